"""The hook specifications: every way a plugin extends the kernel, one hook each.

Hooks are called with keyword arguments; an implementation may accept any subset of them.
Hook signatures are public API: arguments are only ever added, never renamed or removed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import pluggy

if TYPE_CHECKING:
    from kernel.runtime import Runtime

__all__ = ["RegisterRuntime", "hookimpl", "hookspec"]

PROJECT = "kernel"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


class RegisterRuntime(Protocol):
    """The ``register`` callback given to ``kernel_register_runtimes``."""

    def __call__(self, name: str, runtime_class: type[Runtime]) -> None: ...


@hookspec
def kernel_register_runtimes(register: RegisterRuntime) -> None:
    """Register model runtimes: call ``register(name, RuntimeClass)`` once per runtime.

    Fires once, when the kernel builds its plugin manager at start-up. ``name`` is what
    ``model-settings.json`` puts in ``implementation`` (``"sklearn"``); the class is also
    reachable by its class path (``"kernel_sklearn.SKLearnRuntime"``). Registering a name twice
    is a start-up error that names both plugins.
    """
