"""One worker process as the pool that owns it sees it: start, calls in flight, death.

The pool talks to the worker over a socket pair it passes down (``python -m
kernel.workers.main FD``): the first frame loads the model; after that the same link carries
the pool's calls (``WorkerPool`` in one server process) or nothing but the worker's lifetime
(a pool shared by several server processes, whose clients connect to the worker's ``listen``
socket). Closing the link asks the worker to unload and exit.
"""

from __future__ import annotations

import contextlib
import logging
import mmap
import os
import socket
import struct
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Final

import msgspec

from kernel import affinity
from kernel.errors import ModelLoadError
from kernel.metrics_store import apply_delta
from kernel.model_settings import ModelSettings
from kernel.workers.arena import Arena
from kernel.workers.link import Link, Pending
from kernel.workers.messages import FromWorker, Load, Loaded, read_frame, write_frame
from kernel.workers.table import describe_exit

__all__ = ["Pending", "WorkerProcess"]

logger = logging.getLogger("kernel.workers")

_STATUS: Final = struct.Struct("<q")


class WorkerProcess(Link):
    """A worker process for one model, its link and its calls in flight.

    ``status`` is where the worker writes the id of the call it runs: ``(file, offset)`` in a
    shared pool's table, or ``None`` for a file of its own in ``folder``.
    """

    def __init__(
        self,
        label: str,
        python: str,
        folder: Path,
        arena: Arena,
        on_exit: Callable[[WorkerProcess], None],
        *,
        status: tuple[Path, int] | None = None,
        listen: str = "",
    ) -> None:
        super().__init__(label, arena, lambda _link: on_exit(self))
        self.python = python
        self.folder = folder
        self.listen = listen
        self.loaded: Loaded | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._own_status = status is None
        if status is None:
            fd, name = tempfile.mkstemp(prefix="status-", dir=folder)
            os.ftruncate(fd, _STATUS.size)
            self.status_path, self.status_offset = name, 0
        else:
            fd = os.open(status[0], os.O_RDWR)
            self.status_path, self.status_offset = str(status[0]), status[1]
        try:
            self._status = mmap.mmap(fd, 0)
        finally:
            os.close(fd)

    @property
    def returncode(self) -> int | None:
        return self._process.returncode if self._process is not None else None

    def start(self, settings: ModelSettings, timeout: float) -> Loaded:
        """Spawn the worker and load the model in it; blocks. Raises ``ModelLoadError``."""
        ours, theirs = socket.socketpair()
        command = [self.python, "-m", "kernel.workers.main", str(theirs.fileno())]
        try:
            with affinity.unpinned():  # not on the core of the server process starting it
                self._process = subprocess.Popen(command, pass_fds=(theirs.fileno(),))
        except OSError as exc:
            ours.close()
            raise ModelLoadError(
                f"{self.label}: cannot start a worker with {self.python!r}: {exc}"
            ) from exc
        finally:
            theirs.close()
        self.pid = self._process.pid
        stream = ours.makefile("rb")
        load = Load(settings, str(self.folder), self.status_path, self.status_offset, self.listen)
        write_frame(ours, load)
        ours.settimeout(timeout)
        try:
            body = read_frame(stream)
        except TimeoutError:
            body = None
            self.kill()
        ours.settimeout(None)
        loaded = msgspec.msgpack.decode(body, type=FromWorker) if body is not None else None
        if not isinstance(loaded, Loaded) or loaded.error:
            self.kill()
            self._process.wait()
            stream.close()
            ours.close()
            why = loaded.error if isinstance(loaded, Loaded) else self.reason()
            raise ModelLoadError(f"{self.label}: the worker failed to load the model: {why}")
        self.loaded = loaded
        apply_delta(loaded.metrics)
        self.attach(ours, stream)
        return loaded

    def reason(self) -> str:
        """How the process ended; waits for it (it is going: its link has closed)."""
        process = self._process
        if process is not None and process.poll() is None:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        return self.exit_note or describe_exit(self.returncode)

    def running(self) -> int:
        """The id of the call the worker is running now (0 for none)."""
        value: int = _STATUS.unpack_from(self._status, self.status_offset)[0]
        return value

    def kill(self, note: str = "") -> None:
        """Stop the process now (SIGKILL); the reader thread then cleans up."""
        self.stop_calls()
        if note:
            self.exit_note = note
        process = self._process
        if process is not None and process.poll() is None:
            process.kill()

    def close(self, grace: float) -> None:
        """Ask the worker to unload and exit (by closing its link); kill it after ``grace``."""
        self.stop_calls()
        sock = self._sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_WR)
        process = self._process
        if process is not None:
            try:
                process.wait(grace)
            except subprocess.TimeoutExpired:
                logger.warning("%s: worker %d did not exit; killing it", self.label, self.pid)
                process.kill()
                process.wait()
        self._status.close()
        if self._own_status:
            Path(self.status_path).unlink(missing_ok=True)
