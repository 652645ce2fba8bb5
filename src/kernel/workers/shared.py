"""A server process's side of a pool the supervisor owns (``kernel serve --workers N``).

Each server process connects to every worker of the pool over the unix socket the worker
listens on (``<folder>/w<j>.sock``), with a shared-memory arena of its own for the inputs it
sends (segment names start with ``c<pid>-<row>-``). Dispatch goes to the replica with the
fewest calls in flight across *all* server processes: each process counts its own calls in its
row of the pool table, and the column sums are the server's load per replica. When a worker
dies, its calls fail here as they do in a pool of one process; the supervisor starts its
replacement and publishes it in the table, and the next request connects to it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Final

from kernel.errors import ModelNotReady
from kernel.model_settings import ModelSettings
from kernel.workers.arena import Arena, Mapped
from kernel.workers.broker import Grant
from kernel.workers.dispatch import Dispatcher
from kernel.workers.link import Link
from kernel.workers.messages import Connect, encode
from kernel.workers.pool import READY_WAIT, TABLE, check_waiting, socket_path
from kernel.workers.table import PoolTable, describe_exit

__all__ = ["SharedLink", "SharedPool"]

#: Seconds between looks at the table while no worker is ready.
POLL: Final = 0.02
#: Seconds to wait for the owner to record how a worker whose connection closed ended.
EXIT_WAIT: Final = 2.0


class SharedLink(Link):
    """A connection to replica ``replica``'s worker ``pid``, which the supervisor owns."""

    def __init__(
        self,
        label: str,
        arena: Arena,
        on_close: Callable[[Link], None],
        table: PoolTable,
        replica: int,
        pid: int,
    ) -> None:
        super().__init__(label, arena, on_close)
        self.table = table
        self.replica = replica
        self.pid = pid
        self.closing = False
        # A pidfd names this process, not a pid number the system may hand out again.
        self._pidfd: int | None = None
        with contextlib.suppress(AttributeError, OSError):
            self._pidfd = os.pidfd_open(pid)

    def reason(self) -> str:
        if self.closing:
            return "the model is unloading"
        # The supervisor sees the death at the same moment as we do and records it.
        give_up = time.monotonic() + EXIT_WAIT
        while (code := self.table.exit_of(self.replica, self.pid)) is None:
            if time.monotonic() > give_up:
                return self.exit_note or "its connection closed"
            time.sleep(POLL)
        return self.exit_note or describe_exit(code)

    def running(self) -> int:
        return self.table.running(self.replica)

    def kill(self, note: str = "") -> None:
        self.stop_calls()
        if note:
            self.exit_note = note
        if self.closed:
            return  # gone already; its pid may be someone else's by now
        with contextlib.suppress(OSError):
            if self._pidfd is not None:
                signal.pidfd_send_signal(self._pidfd, signal.SIGKILL)
            else:
                os.kill(self.pid, signal.SIGKILL)

    def forget_process(self) -> None:
        """The connection has closed: the process handle is no longer needed."""
        pidfd, self._pidfd = self._pidfd, None
        if pidfd is not None:
            with contextlib.suppress(OSError):
                os.close(pidfd)

    def close(self) -> None:
        """Hang up (the worker forgets this process); the reader thread then ends."""
        self.closing = True
        self.stop_calls()
        sock = self._sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class SharedPool(Dispatcher):
    """The pool of ``grant`` as this server process uses it."""

    def __init__(self, settings: ModelSettings, label: str, grant: Grant) -> None:
        folder = Path(grant.folder)
        prefix = f"c{os.getpid()}-{grant.row}-"
        super().__init__(settings, label, Arena(folder, prefix), Mapped(folder))
        self.grant = grant
        self.folder = folder
        self.prefix = prefix
        self.loaded = grant.loaded
        self.table = PoolTable(folder / TABLE)
        self.row = grant.row
        self.links: list[SharedLink | None] = [None] * self.table.replicas
        self._lock = threading.Lock()
        self._closed = False

    def pids(self) -> list[int]:
        """The pids of the workers ready now, by replica (0: being replaced)."""
        return [self.table.ready_pid(j) for j in range(self.table.replicas)]

    def _link(self, replica: int) -> SharedLink | None:
        """The live link to ``replica``'s current worker, connecting when it is new (call
        with the lock held)."""
        pid = self.table.ready_pid(replica)
        current = self.links[replica]
        if pid == 0:
            return None
        if current is not None and current.pid == pid:
            return current if current.ready else None
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(str(socket_path(self.folder, replica)))
            sock.sendall(encode(Connect(self.prefix)))
        except OSError:
            sock.close()
            return None
        if self.table.ready_pid(replica) != pid:
            # Replaced while we connected: the socket may be the successor's. Look again.
            sock.close()
            return None
        link = SharedLink(self.label, self.arena, self._closed_link, self.table, replica, pid)
        link.attach(sock, sock.makefile("rb"))
        # A predecessor's link is closing by itself: its worker is dead.
        self.links[replica] = link
        return link

    def _closed_link(self, link: Link) -> None:
        self.mapped.forget(f"w{link.pid}-")
        assert isinstance(link, SharedLink)
        link.forget_process()

    def _pick(self, deadline: float) -> Link:
        give_up = time.monotonic() + READY_WAIT
        replicas = self.table.replicas
        while True:
            with self._lock:
                if self._closed:
                    raise ModelNotReady(f"{self.label} is unloading")
                links = [self._link(j) for j in range(replicas)]
                busy = self.table.busy()
                best: int | None = None
                # Ties go to a different replica in each process, so that idle workers are
                # shared out rather than all processes choosing replica 0.
                for k in range(replicas):
                    j = (k + self.row) % replicas
                    if links[j] is not None and (best is None or busy[j] < busy[best]):
                        best = j
                if best is not None:
                    link = links[best]
                    assert link is not None
                    self.table.add(self.row, best, 1)
                    link.inflight += 1
                    return link
            check_waiting(self.label, deadline, give_up, time.monotonic())
            time.sleep(POLL)

    def _done(self, link: Link) -> None:
        assert isinstance(link, SharedLink)
        with self._lock:
            self.table.add(self.row, link.replica, -1)
            link.inflight -= 1

    def _running(self, link: Link) -> int:
        assert isinstance(link, SharedLink)
        return self.table.running(link.replica)

    def close(self) -> None:
        """Hang up on every worker and delete this process's segments (the supervisor stops
        the workers once no server process holds the pool)."""
        with self._lock:
            self._closed = True
            links, self.links = self.links, [None] * self.table.replicas
        for link in links:
            if link is not None:
                link.close()
        self.arena.close()
        self.mapped.forget("")
