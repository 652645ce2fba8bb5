"""A worker process: ``python -m kernel.workers.main FD``.

It reads a ``Load`` frame from the socket ``FD`` the pool passed down, loads the model through
the plugin registry of *this* interpreter's environment (which may be another virtualenv with
other package versions), answers ``Loaded``, then serves ``Call`` frames one at a time until
the socket closes, when it unloads the model and exits. Imports only the kernel's core modules,
not the transports.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import mmap
import os
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
from kernel.plugins import load_plugins
from kernel.registry import RuntimeRegistry
from kernel.runtime import Runtime
from kernel.workers.arena import Arena, Mapped
from kernel.workers.messages import (
    Call,
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
            self.status = mmap.mmap(fd, _STATUS.size)
        finally:
            os.close(fd)
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
        return Loaded(os.getpid(), "", name, inputs, outputs)

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
        if call.deadline and time.monotonic() > call.deadline:
            return Failure(call.id, "deadline", "the request's deadline passed before it ran")
        runtime = self.runtime
        assert runtime is not None
        _STATUS.pack_into(self.status, 0, call.id)
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
            _STATUS.pack_into(self.status, 0, 0)
        params = None if response.parameters is UNSET else response.parameters
        return Result(call.id, refs, segment.name if segment else "", params)

    def serve(self, stream: Any) -> None:
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

    def close(self) -> None:
        if self.runtime is not None:
            try:
                self.loop.run_until_complete(self.runtime.unload())
            except Exception:
                logger.exception("unload failed")
        self.arena.close()
        self.loop.close()


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
        write_frame(sock, loaded)
        worker.serve(stream)
        return 0
    finally:
        worker.close()


if __name__ == "__main__":
    sys.exit(main())
