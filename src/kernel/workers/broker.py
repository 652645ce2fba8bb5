"""Who owns a model's worker pool: this process, or the supervisor on behalf of the server.

Under ``kernel serve --workers N`` the supervisor installs a ``PoolBroker`` in every server
process (``kernel.supervisor.child``). A model that runs in workers then asks the broker for
the server's one pool of that model version instead of starting its own: the supervisor
starts it once, for the first server process that asks, and gives every process a ``Grant``
to connect to it. Without a broker (one server process, an embedded ``Kernel``), each model
starts its own ``WorkerPool``, as before.
"""

from __future__ import annotations

from typing import Protocol

import msgspec

from kernel.model_settings import ModelSettings
from kernel.workers.messages import Loaded

__all__ = ["Grant", "PoolBroker", "current_broker", "install_broker"]


class Grant(msgspec.Struct, frozen=True, array_like=True):
    """A server process's share of a pool: the pool's ``generation`` (a reload starts a new
    one), its ``folder`` (segments, the pool table, the workers' sockets), the ``row`` of the
    pool table this process counts its calls in, and what the workers said when they loaded."""

    generation: int
    folder: str
    row: int
    loaded: Loaded


class PoolBroker(Protocol):
    """Hands out shares of pools the server owns. Both methods block (the kernel calls them
    from its executor, in a runtime's ``load`` / ``unload``)."""

    def acquire(self, settings: ModelSettings) -> Grant:
        """A share of the pool for this model version, started if need be; raises
        ``ModelLoadError`` with the reason when the pool cannot start."""
        ...

    def release(self, grant: Grant) -> None:
        """Give a share back; the pool stops once no process holds it and it is not current."""
        ...


_broker: PoolBroker | None = None


def install_broker(broker: PoolBroker | None) -> None:
    """Make ``broker`` own the pools of this process's models (``None``: each model its own)."""
    global _broker
    _broker = broker


def current_broker() -> PoolBroker | None:
    return _broker
