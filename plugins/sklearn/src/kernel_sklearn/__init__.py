"""kernel-sklearn: the scikit-learn runtime plugin for kernel.

Installing this distribution registers the runtime ``sklearn`` through the ``kernel.plugins``
entry point; ``model-settings.json`` then names it as ``"sklearn"``,
``"kernel_sklearn.SKLearnRuntime"`` or MLServer's ``"mlserver_sklearn.SKLearnModel"``.
scikit-learn itself is imported only when a model loads.
"""

from __future__ import annotations

from kernel import hookimpl
from kernel.hookspecs import RegisterRuntime
from kernel_sklearn.runtime import SKLearnRuntime

__all__ = ["SKLearnRuntime", "kernel_register_runtimes"]


@hookimpl
def kernel_register_runtimes(register: RegisterRuntime) -> None:
    """Register ``SKLearnRuntime`` as the runtime ``sklearn``."""
    register("sklearn", SKLearnRuntime)
