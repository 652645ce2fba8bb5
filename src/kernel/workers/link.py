"""One connection to a worker process, as the side that sends calls sees it.

Any thread may ``send``; one reader thread per link reads results and completes each call's
future. When the connection closes (the worker exited or was killed), every call still in
flight fails with ``InferenceError`` naming the model, the worker and why it ended, and
``on_close`` is told. Subclasses say how the worker ended (``reason``) and how to stop it
(``kill``): ``WorkerProcess`` owns its process, ``SharedLink`` only connects to one.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import BinaryIO

import msgspec

from kernel.errors import InferenceError
from kernel.metrics_store import apply_delta
from kernel.workers.arena import Arena, Segment
from kernel.workers.messages import Call, Failure, FromWorker, Release, Result, encode, read_frame

__all__ = ["Link", "Pending"]

logger = logging.getLogger("kernel.workers")


class WorkerGone(InferenceError):
    """The worker died with the call in flight. ``started`` is false when it had not begun
    the call (it was queued behind another): such a call may safely go to another worker."""

    def __init__(self, message: str, started: bool) -> None:
        super().__init__(message)
        self.started = started


class Pending:
    """A call in flight: its future and the input segment it holds until the worker answers."""

    __slots__ = ("future", "segment")

    def __init__(self, segment: Segment | None) -> None:
        self.future: Future[Result | Failure] = Future()
        self.segment = segment


class Link:
    """A connection to worker ``pid`` over which calls go out and results come back."""

    def __init__(self, label: str, arena: Arena, on_close: Callable[[Link], None]) -> None:
        self.label = label
        self.arena = arena
        self.on_close = on_close
        self.pid = 0
        self.pending: dict[int, Pending] = {}
        #: Calls this process has in flight on the worker (the pool's lock guards it).
        self.inflight = 0
        self.ready = False
        self.closed = False
        self.exit_note = ""
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        # Re-entrant: a response's finalizer (``release``) can run from garbage collection
        # in a thread that is between taking this lock and its ``sendall``; frames stay whole
        # because collection never runs inside ``sendall``.
        self._send_lock = threading.RLock()

    # --- what subclasses provide ----------------------------------------------------------------

    def reason(self) -> str:
        """Why the worker is gone (called once its connection has closed)."""
        return self.exit_note or "its connection closed"

    def kill(self, note: str = "") -> None:
        """Stop the worker now; the reader thread then fails its calls."""
        raise NotImplementedError

    def running(self) -> int:
        """The id of the call the worker runs now (0: none)."""
        raise NotImplementedError

    # --- calls ----------------------------------------------------------------------------------

    def attach(self, sock: socket.socket, stream: BinaryIO) -> None:
        """Start reading results from ``stream`` (of ``sock``); the link is ready."""
        self._sock = sock
        self.ready = True
        threading.Thread(
            target=self._read, args=(stream,), name=f"kernel-worker-{self.pid}", daemon=True
        ).start()

    def send(self, call: Call, pending: Pending) -> None:
        """Send ``call``; its result arrives on ``pending.future``."""
        frame = encode(call)
        with self._lock:
            if not self.ready:
                raise InferenceError(f"{self.label}: worker process {self.pid} is not running")
            self.pending[call.id] = pending
        try:
            with self._send_lock:
                assert self._sock is not None
                self._sock.sendall(frame)
        except OSError:
            pass  # the reader sees the closed socket and fails the call

    def release(self, segment: str) -> None:
        """Tell the worker its result segment ``segment`` may be reused."""
        try:
            with self._send_lock:
                if self._sock is not None:
                    self._sock.sendall(encode(Release(segment)))
        except OSError:
            pass

    def take(self, call_id: int) -> Pending | None:
        with self._lock:
            return self.pending.pop(call_id, None)

    def stop_calls(self) -> None:
        """No new calls from now on."""
        with self._lock:
            self.ready = False

    def _read(self, stream: BinaryIO) -> None:
        decoder = msgspec.msgpack.Decoder(FromWorker)
        try:
            while True:
                body = read_frame(stream)
                if body is None:
                    break
                message = decoder.decode(body)
                if isinstance(message, Result | Failure):
                    apply_delta(message.metrics)  # counts even when nobody waits for the reply
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
        self._closed()

    def _closed(self) -> None:
        with self._lock:
            self.ready = False
            pending, self.pending = self.pending, {}
        how = self.reason()
        # A worker runs one call at a time: only the one it was running can have started. The
        # word is the dead worker's last write, so it still names that call.
        try:
            running: int | None = self.running()
        except (ValueError, OSError):  # the pool closed its status memory: assume all ran
            running = None
        error = WorkerGone(
            f"{self.label}: worker process {self.pid} died ({how}) while running this request;"
            " it is being replaced",
            started=True,
        )
        queued = WorkerGone(
            f"{self.label}: worker process {self.pid} died ({how}) before running this request",
            started=False,
        )
        for call_id, item in pending.items():
            if item.segment is not None:
                self.arena.release(item.segment)
            if not item.future.done():
                started = running is None or call_id == running
                item.future.set_exception(error if started else queued)
        if self._sock is not None:
            self._sock.close()
        self.closed = True
        self.on_close(self)
