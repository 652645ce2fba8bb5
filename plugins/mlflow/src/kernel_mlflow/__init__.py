"""kernel-mlflow: the MLflow runtime plugin for kernel.

Installing this distribution registers the runtime ``mlflow`` through the ``kernel.plugins``
entry point (``model-settings.json`` names it ``"mlflow"``, ``"kernel_mlflow.MLflowRuntime"`` or
MLServer's ``"mlserver_mlflow.MLflowRuntime"``), and MLflow's scoring routes (``/invocations``,
``/ping``, ``/health``, ``/version``) on the REST server. MLflow itself is imported only when a
model loads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kernel import hookimpl
from kernel.hookspecs import RegisterRuntime
from kernel_mlflow.runtime import MLflowRuntime

if TYPE_CHECKING:
    from kernel.api import ControlPlane, DataPlane
    from kernel.hookspecs import RegisterRoute

__all__ = ["MLflowRuntime", "kernel_register_routes", "kernel_register_runtimes"]


@hookimpl
def kernel_register_runtimes(register: RegisterRuntime) -> None:
    """Register ``MLflowRuntime`` as the runtime ``mlflow``."""
    register("mlflow", MLflowRuntime)


@hookimpl
def kernel_register_routes(register: RegisterRoute, data: DataPlane, control: ControlPlane) -> None:
    """Add MLflow's scoring protocol (``POST /invocations`` and friends) to the REST server."""
    from kernel_mlflow._scoring import register_scoring_routes

    register_scoring_routes(register, data, control)
