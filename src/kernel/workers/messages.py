"""The private messages between a pool and its worker processes, and how they are framed.

Every frame is a 4-byte little-endian length and a msgpack body (msgspec). Tensor bytes are
never in a frame unless they are small: a ``TensorRef`` names a segment (an mmap'd file both
processes map) and an offset, so a frame's size does not depend on the tensors' sizes.
"""

from __future__ import annotations

import socket
import struct
from typing import Any, BinaryIO, Final

import msgspec
from msgspec import Struct

from kernel.metrics_store import MetricsDelta
from kernel.model_settings import ModelSettings
from protocol.messages import MetadataTensor

__all__ = [
    "Call",
    "Connect",
    "Failure",
    "FromWorker",
    "Load",
    "Loaded",
    "Release",
    "Result",
    "TensorRef",
    "ToWorker",
    "read_frame",
    "write_frame",
]

_HEADER: Final = struct.Struct("<I")


class TensorRef(Struct, array_like=True):
    """One tensor: its metadata and where its bytes are.

    ``inline`` holds the bytes of a small tensor; otherwise they are ``nbytes`` at ``offset``
    in the message's segment. BYTES tensors are the protocol's length-prefixed blob.
    """

    name: str
    shape: list[int]
    datatype: str
    parameters: dict[str, Any] | None = None
    offset: int = 0
    nbytes: int = 0
    inline: bytes | None = None


class Load(Struct, tag=True, array_like=True):
    """Pool -> worker, first frame: the model to load and the folder segments live in.

    The worker writes the id of the call it runs as an int64 at ``status_offset`` in
    ``status_file``. With ``listen``, it also accepts clients on that unix socket path once
    the model is loaded (a pool shared by several server processes, ``kernel.workers.shared``).
    """

    settings: ModelSettings
    folder: str
    status_file: str
    status_offset: int = 0
    listen: str = ""


class Connect(Struct, tag=True, array_like=True):
    """Client -> worker, first frame on a connection to a shared worker: the prefix of the
    client's segment names, so the worker can drop its mappings when the client goes."""

    prefix: str


class Loaded(Struct, tag=True, array_like=True):
    """Worker -> pool: the model loaded (``error`` empty) or why it did not."""

    pid: int
    error: str = ""
    runtime_name: str = ""
    inputs: list[MetadataTensor] = []
    outputs: list[MetadataTensor] = []
    # What the runtime recorded through ``self.metrics`` since the last message (see
    # kernel.metrics_store): worker processes have no /metrics of their own.
    metrics: MetricsDelta | None = None
    # ``Runtime.metadata_parameters()`` of the loaded runtime.
    metadata: dict[str, Any] | None = None


class Call(Struct, tag=True, array_like=True):
    """Pool -> worker: one inference. ``deadline`` is ``time.monotonic()`` (system-wide on the
    platforms we run on), 0 for none; ``segment`` is empty when every tensor is inline."""

    id: int
    inputs: list[TensorRef]
    segment: str = ""
    deadline: float = 0.0
    request_id: str | None = None
    parameters: dict[str, Any] | None = None
    outputs: list[tuple[str, dict[str, Any] | None]] | None = None


class Release(Struct, tag=True, array_like=True):
    """Pool -> worker: the pool has copied a result out of this worker segment."""

    segment: str


class Result(Struct, tag=True, array_like=True):
    """Worker -> pool: the outputs of call ``id``.

    New fields go at the end with a default (array-like encoding), e.g. a delta of the
    runtime's custom metrics, so that a worker and a server of different builds still agree.
    """

    id: int
    outputs: list[TensorRef]
    segment: str = ""
    parameters: dict[str, Any] | None = None
    metrics: MetricsDelta | None = None


class Failure(Struct, tag=True, array_like=True):
    """Worker -> pool: call ``id`` failed. ``kind`` picks the kernel error class."""

    id: int
    kind: str
    message: str
    metrics: MetricsDelta | None = None


ToWorker = Load | Connect | Call | Release
FromWorker = Loaded | Result | Failure

_encoder = msgspec.msgpack.Encoder()


def encode(message: ToWorker | FromWorker) -> bytes:
    """A whole frame: header and body, for one ``sendall``."""
    body = _encoder.encode(message)
    return _HEADER.pack(len(body)) + body


def write_frame(sock: socket.socket, message: ToWorker | FromWorker) -> None:
    sock.sendall(encode(message))


def read_frame(stream: BinaryIO) -> bytes | None:
    """The next frame's body, or ``None`` at end of stream (the peer is gone)."""
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        return None
    (size,) = _HEADER.unpack(header)
    body = stream.read(size)
    return body if len(body) == size else None
