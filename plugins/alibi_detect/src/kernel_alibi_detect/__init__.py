"""kernel-alibi-detect: the Alibi-Detect runtime plugin for kernel.

Installing this distribution registers the runtime ``alibi-detect`` through the
``kernel.plugins`` entry point; ``model-settings.json`` then names it as ``"alibi-detect"``,
``"kernel_alibi_detect.AlibiDetectRuntime"`` or MLServer's
``"mlserver_alibi_detect.AlibiDetectRuntime"``. alibi-detect itself (a slow import) is imported
only when a model loads.
"""

from __future__ import annotations

from kernel import hookimpl
from kernel.hookspecs import RegisterRuntime
from kernel_alibi_detect.runtime import AlibiDetectRuntime

__all__ = ["AlibiDetectRuntime", "kernel_register_runtimes"]


@hookimpl
def kernel_register_runtimes(register: RegisterRuntime) -> None:
    """Register ``AlibiDetectRuntime`` as the runtime ``alibi-detect``."""
    register("alibi-detect", AlibiDetectRuntime)
