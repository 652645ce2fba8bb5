"""One worker process as its pool sees it: start, calls in flight, death.

Any thread may ``send``; one reader thread per worker reads results and completes each call's
future. When the socket closes (the worker exited or was killed), every call still in flight
fails with ``InferenceError`` naming the model and the worker, and the pool is told.
"""

from __future__ import annotations

import contextlib
import logging
import mmap
import os
import signal
import socket
import struct
import subprocess
import threading
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import BinaryIO, Final

import msgspec

from kernel.errors import InferenceError, ModelLoadError
from kernel.model_settings import ModelSettings
from kernel.workers.arena import Arena, Segment
from kernel.workers.messages import (
    Call,
    Failure,
    FromWorker,
    Load,
    Loaded,
    Release,
    Result,
    read_frame,
    write_frame,
)

__all__ = ["Pending", "WorkerProcess"]

logger = logging.getLogger("kernel.workers")

_STATUS: Final = struct.Struct("<q")


class Pending:
    """A call in flight: its future and the input segment it holds until the worker answers."""

    __slots__ = ("future", "segment")

    def __init__(self, segment: Segment | None) -> None:
        self.future: Future[Result | Failure] = Future()
        self.segment = segment


class WorkerProcess:
    """A worker process for one model, its socket and its calls in flight."""

    def __init__(
        self,
        label: str,
        python: str,
        folder: Path,
        arena: Arena,
        on_exit: Callable[[WorkerProcess], None],
    ) -> None:
        self.label = label
        self.python = python
        self.folder = folder
        self.arena = arena
        self.on_exit = on_exit
        self.pending: dict[int, Pending] = {}
        self.inflight = 0
        self.ready = False
        self.pid = 0
        self.loaded: Loaded | None = None
        self.exit_note = ""
        self._lock = threading.Lock()
        # Re-entrant: a response's finalizer (``release``) can run from garbage collection
        # in a thread that is between taking this lock and its ``sendall``; frames stay whole
        # because collection never runs inside ``sendall``.
        self._send_lock = threading.RLock()
        self._process: subprocess.Popen[bytes] | None = None
        self._sock: socket.socket | None = None
        fd, name = _status_file(folder)
        self.status_path = name
        try:
            self._status = mmap.mmap(fd, _STATUS.size)
        finally:
            os.close(fd)

    def start(self, settings: ModelSettings, timeout: float) -> Loaded:
        """Spawn the worker and load the model in it; blocks. Raises ``ModelLoadError``."""
        ours, theirs = socket.socketpair()
        self._sock = ours
        command = [self.python, "-m", "kernel.workers.main", str(theirs.fileno())]
        try:
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
        write_frame(ours, Load(settings, str(self.folder), self.status_path))
        ours.settimeout(timeout)
        try:
            body = read_frame(stream)
        except TimeoutError:
            body = None
            self.kill()
        ours.settimeout(None)
        decoder = msgspec.msgpack.Decoder(FromWorker)
        loaded = decoder.decode(body) if body is not None else None
        if not isinstance(loaded, Loaded) or loaded.error:
            self.kill()
            self._process.wait()
            stream.close()
            ours.close()
            why = loaded.error if isinstance(loaded, Loaded) else self._exit_reason()
            raise ModelLoadError(f"{self.label}: the worker failed to load the model: {why}")
        self.loaded = loaded
        self.ready = True
        threading.Thread(
            target=self._read, args=(stream, decoder), name=f"kernel-worker-{self.pid}", daemon=True
        ).start()
        return loaded

    def _exit_reason(self) -> str:
        process = self._process
        code = process.poll() if process is not None else None
        if code is None:
            return "no answer"
        if code < 0:
            return f"killed by {signal.Signals(-code).name}"
        return f"exit code {code}"

    def send(self, call: Call, pending: Pending) -> None:
        """Send ``call``; its result arrives on ``pending.future``."""
        with self._lock:
            if not self.ready:
                raise InferenceError(f"{self.label}: worker process {self.pid} is not running")
            self.pending[call.id] = pending
        try:
            with self._send_lock:
                assert self._sock is not None
                write_frame(self._sock, call)
        except OSError:
            pass  # the reader sees the closed socket and fails the call

    def release(self, segment: str) -> None:
        try:
            with self._send_lock:
                if self._sock is not None:
                    write_frame(self._sock, Release(segment))
        except OSError:
            pass

    def running(self) -> int:
        """The id of the call the worker is running now (0 for none)."""
        value: int = _STATUS.unpack_from(self._status, 0)[0]
        return value

    def take(self, call_id: int) -> Pending | None:
        with self._lock:
            return self.pending.pop(call_id, None)

    def _read(self, stream: BinaryIO, decoder: msgspec.msgpack.Decoder[FromWorker]) -> None:
        try:
            while True:
                body = read_frame(stream)
                if body is None:
                    break
                message = decoder.decode(body)
                if isinstance(message, Result | Failure):
                    pending = self.take(message.id)
                    if pending is None:  # the caller gave up (deadline): nothing to copy
                        if isinstance(message, Result) and message.segment:
                            self.release(message.segment)
                    else:
                        if pending.segment is not None:
                            self.arena.release(pending.segment)
                        pending.future.set_result(message)
        except OSError:
            pass  # the connection broke: the worker is gone
        except (ValueError, msgspec.DecodeError) as exc:
            logger.error("%s: worker %d sent a bad frame: %s", self.label, self.pid, exc)
            self.kill("it sent a bad frame")
        stream.close()
        self._died()

    def _died(self) -> None:
        with self._lock:
            self.ready = False
            pending, self.pending = self.pending, {}
        process = self._process
        if process is not None:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        how = self.exit_note or self._exit_reason()
        error = InferenceError(
            f"{self.label}: worker process {self.pid} died ({how}) while running this request;"
            " it is being replaced"
        )
        for item in pending.values():
            if item.segment is not None:
                self.arena.release(item.segment)
            if not item.future.done():
                item.future.set_exception(error)
        if self._sock is not None:
            self._sock.close()
        self.on_exit(self)

    def kill(self, note: str = "") -> None:
        """Stop the process now (SIGKILL); the reader thread then cleans up."""
        with self._lock:
            self.ready = False  # no new calls from now on
        if note:
            self.exit_note = note
        process = self._process
        if process is not None and process.poll() is None:
            process.kill()

    def close(self, grace: float) -> None:
        """Ask the worker to unload and exit (by closing its socket); kill it after ``grace``."""
        with self._lock:
            self.ready = False
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
        Path(self.status_path).unlink(missing_ok=True)


def _status_file(folder: Path) -> tuple[int, str]:
    """A fresh 8-byte file the worker writes the id of the call it runs into."""
    fd, name = _mkstemp(folder)
    os.ftruncate(fd, _STATUS.size)
    return fd, name


def _mkstemp(folder: Path) -> tuple[int, str]:
    import tempfile

    return tempfile.mkstemp(prefix="status-", dir=folder)
