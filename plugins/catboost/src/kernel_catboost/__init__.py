"""kernel-catboost: the CatBoost runtime plugin for kernel.

Installing this distribution registers the runtime ``catboost`` through the ``kernel.plugins``
entry point; ``model-settings.json`` then names it as ``"catboost"``,
``"kernel_catboost.CatBoostRuntime"`` or MLServer's ``"mlserver_catboost.CatboostModel"``.
CatBoost itself is imported only when a model loads.
"""

from __future__ import annotations

from kernel import hookimpl
from kernel.hookspecs import RegisterRuntime
from kernel_catboost.runtime import CatBoostRuntime

__all__ = ["CatBoostRuntime", "kernel_register_runtimes"]


@hookimpl
def kernel_register_runtimes(register: RegisterRuntime) -> None:
    """Register ``CatBoostRuntime`` as the runtime ``catboost``."""
    register("catboost", CatBoostRuntime)
