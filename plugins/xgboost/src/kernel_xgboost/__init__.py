"""kernel-xgboost: the XGBoost runtime plugin for kernel.

Installing this distribution registers the runtime ``xgboost`` through the ``kernel.plugins``
entry point; ``model-settings.json`` then names it as ``"xgboost"``,
``"kernel_xgboost.XGBoostRuntime"`` or MLServer's ``"mlserver_xgboost.XGBoostModel"``.
XGBoost itself is imported only when a model loads.
"""

from __future__ import annotations

from kernel import hookimpl
from kernel.hookspecs import RegisterRuntime
from kernel_xgboost.runtime import XGBoostRuntime

__all__ = ["XGBoostRuntime", "kernel_register_runtimes"]


@hookimpl
def kernel_register_runtimes(register: RegisterRuntime) -> None:
    """Register ``XGBoostRuntime`` as the runtime ``xgboost``."""
    register("xgboost", XGBoostRuntime)
