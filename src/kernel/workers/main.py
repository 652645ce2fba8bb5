"""A worker process: ``python -m kernel.workers.main FD``.

It reads a ``Load`` frame from the socket ``FD`` the pool passed down, loads the model through
the plugin registry of *this* interpreter's environment (which may be another virtualenv with
other package versions), answers ``Loaded``, then serves ``Call`` frames one at a time until
that socket closes, when it unloads the model and exits. With ``Load.listen`` it also accepts
connections from the server processes of a shared pool there (``kernel.workers.shared``);
calls from every connection are run one at a time, in the order they arrived. Imports only
the kernel's core modules, not the transports.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import mmap
import os
import selectors
import socket
import struct
import sys
import time
from pathlib import Path
from typing import Any

import msgspec

from kernel.codecs.registry import CodecRegistry
from kernel.codecs.typed import TypedPredict, typed_predict
from kernel.errors import BadRequest, KernelError, ModelNotReady
from kernel.metrics_store import drain_delta
from kernel.plugins import load_plugins
from kernel.registry import RuntimeRegistry
from kernel.runtime import Runtime
from kernel.workers.arena import Arena, Mapped
from kernel.workers.messages import (
    Call,
    Connect,
    Failure,
    Load,
    Loaded,
    Release,
    Result,
    ToWorker,
    read_frame,
    write_frame,
)
from kernel.workers.tensors import Tensor, pack, unpack
from protocol.errors import ProtocolError
from protocol.messages import (
    UNSET,
    InferenceRequest,
    InferenceResponse,
    RequestInput,
    RequestOutput,
)

__all__ = ["main"]

logger = logging.getLogger("kernel.worker")
_STATUS = struct.Struct("<q")


def _describe(exc: BaseException) -> str:
    if isinstance(exc, KernelError | ProtocolError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _kind(exc: BaseException) -> str:
    if isinstance(exc, ProtocolError):
        return "protocol"
    if isinstance(exc, BadRequest):
        return "bad_request"
    if isinstance(exc, ModelNotReady):
        return "not_ready"
    return "inference"


class Worker:
    """One loaded model and the state to answer calls for it."""

    def __init__(self, sock: socket.socket, load: Load) -> None:
        self.sock = sock
        self.settings = load.settings
        folder = Path(load.folder)
        self.arena = Arena(folder, f"w{os.getpid()}-")
        self.mapped = Mapped(folder)
        fd = os.open(load.status_file, os.O_RDWR)
        try:
            self.status = mmap.mmap(fd, 0)
        finally:
            os.close(fd)
        self.status_offset = load.status_offset
        self.loop = asyncio.new_event_loop()
        self.runtime: Runtime | None = None
        self.typed: TypedPredict | None = None

    def load(self) -> Loaded:
        settings = self.settings
        plugins = load_plugins()
        registry, codecs = RuntimeRegistry(), CodecRegistry()
        plugins.register_runtimes(registry)
        plugins.register_codecs(codecs)
        cls = registry.resolve(settings.implementation, settings.path)
        if (settings.parallel_workers or 0) > 1 and cls.keeps_state(settings):
            logger.warning(
                "model %r keeps state across requests, but parallel_workers is %d: each worker"
                " keeps its own (set parallel_workers to 1 for one shared state)",
                settings.name,
                settings.parallel_workers,
            )
        for module in cls.framework_modules:
            importlib.import_module(module)
        runtime = cls(settings)
        self.typed = typed_predict(runtime, codecs)
        self.loop.run_until_complete(runtime.load())
        self.runtime = runtime
        typed = self.typed
        inputs = list(runtime.inputs()) or (typed.inputs() if typed else [])
        outputs = list(runtime.outputs()) or (typed.outputs() if typed else [])
        name = registry.name_of(cls) or settings.implementation
        metadata = runtime.metadata_parameters() or None
        return Loaded(
            os.getpid(), "", name, inputs, outputs, metrics=drain_delta(), metadata=metadata
        )

    def request(self, call: Call) -> InferenceRequest:
        mm = self.mapped.get(call.segment) if call.segment else None
        inputs = [
            RequestInput(
                ref.name,
                ref.shape,
                ref.datatype,
                UNSET if ref.parameters is None else ref.parameters,
                unpack(ref, mm),
            )
            for ref in call.inputs
        ]
        outputs: Any = UNSET
        if call.outputs is not None:
            outputs = [RequestOutput(n, UNSET if p is None else p) for n, p in call.outputs]
        return InferenceRequest(
            inputs,
            id=UNSET if call.request_id is None else call.request_id,
            parameters=UNSET if call.parameters is None else call.parameters,
            outputs=outputs,
        )

    def answer(self, call: Call) -> Result | Failure:
        result = self._answer(call)
        # Runtime metrics travel back with the reply: this process has no /metrics.
        result.metrics = drain_delta()
        return result

    def _answer(self, call: Call) -> Result | Failure:
        if call.deadline and time.monotonic() > call.deadline:
            return Failure(call.id, "deadline", "the request's deadline passed before it ran")
        runtime = self.runtime
        assert runtime is not None
        _STATUS.pack_into(self.status, self.status_offset, call.id)
        try:
            request = self.request(call)
            fn = self.typed if self.typed is not None else runtime.predict
            response = self.loop.run_until_complete(fn(request))
            if not isinstance(response, InferenceResponse):
                return Failure(
                    call.id,
                    "inference",
                    f"the runtime returned {type(response).__name__}, not an InferenceResponse",
                )
            tensors: list[Tensor] = [
                (
                    o.name,
                    o.shape,
                    o.datatype,
                    None if o.parameters is UNSET else o.parameters,
                    o.data,
                )
                for o in response.outputs
            ]
            refs, segment = pack(tensors, self.arena)
        except Exception as exc:
            if not isinstance(exc, KernelError | ProtocolError):
                logger.exception("predict raised")
            return Failure(call.id, _kind(exc), _describe(exc))
        finally:
            _STATUS.pack_into(self.status, self.status_offset, 0)
        params = None if response.parameters is UNSET else response.parameters
        return Result(call.id, refs, segment.name if segment else "", params)

    def serve(self, stream: Any) -> None:
        """Serve the pool's own socket only (a pool in one server process)."""
        decoder = msgspec.msgpack.Decoder(ToWorker)
        while True:
            body = read_frame(stream)
            if body is None:
                return
            message = decoder.decode(body)
            if isinstance(message, Call):
                write_frame(self.sock, self.answer(message))
            elif isinstance(message, Release):
                self.arena.release(message.segment)

    def serve_shared(self, listener: socket.socket) -> None:
        """Serve the pool's socket and every client that connects to ``listener``, until the
        pool's socket closes."""
        Hub(self, listener).run()

    def close(self) -> None:
        if self.runtime is not None:
            try:
                self.loop.run_until_complete(self.runtime.unload())
            except Exception:
                logger.exception("unload failed")
        self.arena.close()
        self.loop.close()


class _Client:
    """One connection to the worker: what has arrived of its next frame, and the result
    segments it holds (given back if it goes away without releasing them)."""

    __slots__ = ("buffer", "holds", "prefix", "sock")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = bytearray()
        self.prefix = ""
        self.holds: set[str] = set()


class Hub:
    """The worker's loop when several processes talk to it: one thread, a selector over the
    pool's socket, the listener and every client; calls queue in arrival order and run one
    at a time. Reading happens between calls, so a long predict holds frames in the sockets,
    not in memory."""

    def __init__(self, worker: Worker, listener: socket.socket) -> None:
        self.worker = worker
        self.listener = listener
        self.selector = selectors.DefaultSelector()
        self.decoder = msgspec.msgpack.Decoder(ToWorker)
        self.queue: list[tuple[_Client, Call]] = []
        self.owner = _Client(worker.sock)
        self.running = True

    def run(self) -> None:
        self.selector.register(self.listener, selectors.EVENT_READ, None)
        self.selector.register(self.owner.sock, selectors.EVENT_READ, self.owner)
        try:
            while self.running:
                # Block only when there is nothing to run.
                for key, _events in self.selector.select(0 if self.queue else None):
                    if key.data is None:
                        self._accept()
                    else:
                        self._receive(key.data)
                if self.queue and self.running:
                    client, call = self.queue.pop(0)
                    answer = self.answer(client, call)
                    try:
                        write_frame(client.sock, answer)
                    except OSError:
                        self._drop(client)
        finally:
            self.selector.close()
            self.listener.close()

    def answer(self, client: _Client, call: Call) -> Result | Failure:
        result = self.worker.answer(call)
        if isinstance(result, Result) and result.segment:
            client.holds.add(result.segment)
        return result

    def _accept(self) -> None:
        try:
            sock, _ = self.listener.accept()
        except OSError:
            return
        self.selector.register(sock, selectors.EVENT_READ, _Client(sock))

    def _receive(self, client: _Client) -> None:
        try:
            data = client.sock.recv(1 << 16)
        except OSError:
            data = b""
        if not data:
            self._drop(client)
            return
        client.buffer += data
        buffer = client.buffer
        start = 0
        while len(buffer) - start >= 4:
            size = int.from_bytes(buffer[start : start + 4], "little")
            if len(buffer) - start - 4 < size:
                break
            body = bytes(buffer[start + 4 : start + 4 + size])
            start += 4 + size
            try:
                message = self.decoder.decode(body)
            except msgspec.DecodeError as exc:
                logger.error("a client sent a bad frame (%s); dropping it", exc)
                self._drop(client)
                return
            if isinstance(message, Call):
                self.queue.append((client, message))
            elif isinstance(message, Release):
                client.holds.discard(message.segment)
                self.worker.arena.release(message.segment)
            elif isinstance(message, Connect):
                client.prefix = message.prefix
        del buffer[:start]

    def _drop(self, client: _Client) -> None:
        """The client went away: forget it, its queued calls and its segments."""
        if client is self.owner:
            self.running = False  # the pool closed our socket: unload and exit
            return
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(client.sock)
        client.sock.close()
        self.queue = [(c, call) for c, call in self.queue if c is not client]
        for segment in client.holds:
            self.worker.arena.release(segment)
        client.holds.clear()
        if client.prefix:
            self.worker.mapped.forget(client.prefix)


def main(argv: list[str] | None = None) -> int:
    """Serve the model the pool sends over the inherited socket ``argv[0]``."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or not args[0].isdigit():
        print(
            "usage: python -m kernel.workers.main FD (started by a kernel worker pool)",
            file=sys.stderr,
        )
        return 2
    logging.basicConfig(
        level=os.environ.get("KERNEL_LOG_LEVEL", "INFO").upper(),
        format=f"%(asctime)s worker {os.getpid()} %(levelname)s %(message)s",
    )
    sock = socket.socket(fileno=int(args[0]))
    stream = sock.makefile("rb")
    body = read_frame(stream)
    if body is None:
        return 1
    load = msgspec.msgpack.decode(body, type=ToWorker)
    if not isinstance(load, Load):
        return 1
    try:
        worker = Worker(sock, load)
    except Exception as exc:
        write_frame(sock, Loaded(os.getpid(), _describe(exc)))
        return 1
    try:
        try:
            loaded = worker.load()
        except Exception as exc:
            write_frame(sock, Loaded(os.getpid(), _describe(exc)))
            return 1
        if load.listen:
            # Listen before answering: the pool announces the worker once it has answered.
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            listener.bind(load.listen)
            listener.listen(64)
            write_frame(sock, loaded)
            stream.close()
            worker.serve_shared(listener)
        else:
            write_frame(sock, loaded)
            worker.serve(stream)
        return 0
    finally:
        worker.close()


if __name__ == "__main__":
    sys.exit(main())
