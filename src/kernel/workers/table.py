"""The pool table: a small shared-memory array of int64 that every process of a shared pool maps.

A pool shared by several server processes (``kernel serve --workers N``) is owned by the
supervisor; the server processes connect to its workers. What they must agree on lives here::

    [replicas, rows]                                   header
    per replica j: [ready_pid, running, exit_pid, exit_status]
    busy[rows][replicas]                               calls in flight, one row per client

- ``ready_pid``: the pid of replica ``j``'s worker once it has loaded the model and listens
  (0 while it is being replaced). Written by the owner only.
- ``running``: the id of the call the worker runs now (0: none). Written by the worker only.
- ``exit_pid`` / ``exit_status``: the last worker of replica ``j`` that died and how
  (``Popen.returncode``: negative for a signal). Written by the owner only, status first.
- ``busy[r][j]``: calls client ``r`` has in flight on replica ``j``. Each row has one writer
  (the client the owner gave it to), so no cross-process atomics are needed: the least-busy
  replica is the one with the smallest column sum.

Aligned 8-byte loads and stores are not torn on the platforms we run on; a reader may see a
value a moment old, which only makes a dispatch choice slightly less than perfect.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import signal
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

__all__ = ["PoolTable", "describe_exit"]

_HEADER: Final = 2
_FIELDS: Final = 4
_READY, _RUNNING, _EXIT_PID, _EXIT_STATUS = range(_FIELDS)


def describe_exit(code: int | None) -> str:
    """A process's ``returncode`` as an operator reads it."""
    if code is None:
        return "no answer"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


class PoolTable:
    """The table in the file ``path``; ``create`` makes it (the owner), else it is opened."""

    def __init__(
        self, path: Path, replicas: int = 0, rows: int = 0, *, create: bool = False
    ) -> None:
        self.path = path
        if create:
            size = 8 * (_HEADER + replicas * _FIELDS + rows * replicas)
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        else:
            fd = os.open(path, os.O_RDWR)
            size = os.fstat(fd).st_size
        try:
            if create:
                os.ftruncate(fd, size)
            self._mm = mmap.mmap(fd, size)
        finally:
            os.close(fd)
        words: npt.NDArray[np.int64] = np.frombuffer(self._mm, dtype=np.int64)
        if create:
            words[0], words[1] = replicas, rows
        self.replicas, self.rows = int(words[0]), int(words[1])
        end = _HEADER + self.replicas * _FIELDS
        self._slots = words[_HEADER:end].reshape(self.replicas, _FIELDS)
        self._busy = words[end : end + self.rows * self.replicas].reshape(self.rows, self.replicas)

    def running_offset(self, replica: int) -> int:
        """Byte offset of replica ``replica``'s ``running`` word (the worker writes it)."""
        return 8 * (_HEADER + replica * _FIELDS + _RUNNING)

    # --- replicas -----------------------------------------------------------------------------

    def ready_pid(self, replica: int) -> int:
        return int(self._slots[replica, _READY])

    def set_ready(self, replica: int, pid: int) -> None:
        """Publish ``pid`` as replica ``replica``'s worker (0: none is ready)."""
        if pid:
            self._slots[replica, _RUNNING] = 0  # a dead predecessor's call may be left there
        self._slots[replica, _READY] = pid

    def running(self, replica: int) -> int:
        return int(self._slots[replica, _RUNNING])

    def set_exit(self, replica: int, pid: int, code: int) -> None:
        self._slots[replica, _EXIT_STATUS] = code
        self._slots[replica, _EXIT_PID] = pid

    def exit_of(self, replica: int, pid: int) -> int | None:
        """How worker ``pid`` of replica ``replica`` exited, if the owner has recorded it."""
        if int(self._slots[replica, _EXIT_PID]) != pid:
            return None
        return int(self._slots[replica, _EXIT_STATUS])

    # --- load ---------------------------------------------------------------------------------

    def busy(self) -> npt.NDArray[Any]:
        """Calls in flight per replica, summed over every client."""
        total: npt.NDArray[Any] = self._busy.sum(axis=0)
        return total

    def add(self, row: int, replica: int, delta: int) -> None:
        """Client ``row`` (the only writer of its row) starts or ends a call on ``replica``."""
        self._busy[row, replica] += delta

    def clear_row(self, row: int) -> None:
        self._busy[row, :] = 0

    def close(self) -> None:
        # Views of the mapping must go before it can be unmapped.
        del self._slots, self._busy
        # A caller may still hold a view: then the mapping goes with it.
        with contextlib.suppress(BufferError):
            self._mm.close()
