"""Who owns a model's worker pool: this process, or the supervisor on behalf of the server.

Under ``kernel serve --workers N`` the supervisor installs a ``PoolBroker`` in every server
process (``kernel.supervisor.child``). A model that runs in workers then asks the broker for
the server's one pool of that model version instead of starting its own: the supervisor
starts it once, for the first server process that asks, and gives every process a ``Grant``
to connect to it. Without a broker (one server process, an embedded ``Kernel``), each model
starts its own ``WorkerPool``, as before.

A repository reload of a model that keeps state (``Runtime.keeps_state``) is *handed over*
(``kernel._swap``): every server process first tells the broker (``hand_over``), then gives its
share of the old pool back, then asks for a share of the new one; the supervisor stops the old
pool (its worker unloads, saving the state) once every process has given its share back, and
only then starts the new one (whose worker restores that state).
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

    def hand_over(self, name: str, version: str | None) -> None:
        """The repository load running now hands this model version's state over: its pool
        stops once every server process has given its share back (or, past the server's
        ``graceful_timeout`` and a margin, regardless), and the load's new pool of it starts
        only after that. Call it before giving this process's share back and before asking
        for the new one; saying it again (every process does) changes nothing."""
        ...


_broker: PoolBroker | None = None


def install_broker(broker: PoolBroker | None) -> None:
    """Make ``broker`` own the pools of this process's models (``None``: each model its own)."""
    global _broker
    _broker = broker


def current_broker() -> PoolBroker | None:
    return _broker
