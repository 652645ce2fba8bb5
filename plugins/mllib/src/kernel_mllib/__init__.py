"""kernel-mllib: the Spark MLlib runtime plugin for kernel.

Installing this distribution registers the runtime ``mllib`` through the ``kernel.plugins``
entry point; ``model-settings.json`` then names it as ``"mllib"``,
``"kernel_mllib.MLlibRuntime"`` or MLServer's ``"mlserver_mllib.MLlibModel"``. pyspark is
imported only when a model loads; the process's SparkSession is stopped at shut-down.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kernel import hookimpl
from kernel.hookspecs import RegisterRuntime
from kernel_mllib import _session
from kernel_mllib.runtime import MLlibRuntime

if TYPE_CHECKING:
    from kernel.lifecycle import Kernel

__all__ = ["MLlibRuntime", "kernel_register_runtimes", "kernel_shutdown"]


@hookimpl
def kernel_register_runtimes(register: RegisterRuntime) -> None:
    """Register ``MLlibRuntime`` as the runtime ``mllib``."""
    register("mllib", MLlibRuntime)


@hookimpl
def kernel_shutdown(kernel: Kernel) -> None:
    """Stop the SparkSession if a model left it running (every model is unloaded by now)."""
    if _session.running():
        _session.stop()
