"""Refusing an oversized gRPC request from its length prefix, before its body is read.

grpclib's ``grpclib.server.Stream.recv_message`` reads a message's 5-byte prefix (compression
flag, big-endian length) and then waits until the whole body that length announces is in
memory; only then does the codec see it. ``KernelCodec.decode`` refuses a message over
``max_request_size``, but by then a client announcing 4 GB has made the server hold 4 GB.

``install()`` replaces the module-level ``recv_message`` that ``grpclib.server`` calls with
``recv_message`` below, which reads the prefix the same way and, when the stream's codec carries
a ``max_request_size`` (``KernelCodec`` does), refuses a larger announced length at once with
the codec's own error (``PayloadTooLarge``, RESOURCE_EXHAUSTED). The body is never read;
grpclib acknowledges and drops whatever the client still sends once the stream is released,
so the connection's flow-control window is given back and other calls on it carry on.
"""

from __future__ import annotations

from typing import Any

import grpclib.server
import grpclib.stream

from kernel.errors import PayloadTooLarge
from protocol.errors import ProtocolError

__all__ = ["install", "recv_message"]

#: The length of a gRPC message prefix: one compression-flag byte, four length bytes.
_PREFIX = 5


async def recv_message(stream: Any, codec: Any, message_type: Any) -> Any:
    """One message from ``stream`` (a grpclib protocol stream), or ``None`` at its end."""
    prefix = await _read(stream, _PREFIX, "a gRPC message prefix")
    if not prefix:
        return None
    if prefix[0]:
        # What grpclib raises: the server does not negotiate compression, so none is expected.
        raise NotImplementedError("Compression not implemented")
    size = int.from_bytes(prefix[1:_PREFIX], "big")
    limit = getattr(codec, "max_request_size", None)
    if limit is not None and size > limit:
        raise PayloadTooLarge(f"request of {size} bytes is over the limit of {limit} bytes")
    body = await _read(stream, size, f"the {size} bytes its gRPC message announced")
    return codec.decode(body, message_type)


async def _read(stream: Any, size: int, what: str) -> bytes:
    """``size`` bytes, or ``b""`` at the end of the stream; a ``ProtocolError`` naming ``what``
    when the stream ends in between (grpclib's buffer says so with an ``AssertionError``)."""
    try:
        data: bytes = await stream.recv_data(size)
    except AssertionError:
        data = b"\0"  # some, but not all: the same error as a short read
    if data and len(data) != size:
        raise ProtocolError(f"the request ended before {what}")
    return data


def install() -> None:
    """Use ``recv_message`` for every grpclib server stream (idempotent, process-wide).

    Only where ``grpclib.server`` calls grpclib's own ``recv_message`` by that module-level name
    (grpclib 0.4); another version keeps its own, which buffers first but refuses all the same.
    A server whose codec has no ``max_request_size`` behaves as before.
    """
    current = getattr(grpclib.server, "recv_message", None)
    if current is grpclib.stream.recv_message:
        setattr(grpclib.server, "recv_message", recv_message)  # noqa: B010 (not exported)
