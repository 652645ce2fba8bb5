"""kernel-lightgbm: the LightGBM runtime plugin for kernel.

Installing this distribution registers the runtime ``lightgbm`` through the ``kernel.plugins``
entry point; ``model-settings.json`` then names it as ``"lightgbm"``,
``"kernel_lightgbm.LightGBMRuntime"`` or MLServer's ``"mlserver_lightgbm.LightGBMModel"``.
LightGBM itself is imported only when a model loads.
"""

from __future__ import annotations

from kernel import hookimpl
from kernel.hookspecs import RegisterRuntime
from kernel_lightgbm.runtime import LightGBMRuntime

__all__ = ["LightGBMRuntime", "kernel_register_runtimes"]


@hookimpl
def kernel_register_runtimes(register: RegisterRuntime) -> None:
    """Register ``LightGBMRuntime`` as the runtime ``lightgbm``."""
    register("lightgbm", LightGBMRuntime)
