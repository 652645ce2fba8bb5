"""The grpclib codec: raw bytes for the inference RPCs, betterproto for everything else."""

from __future__ import annotations

from typing import Any

import betterproto
from grpclib.encoding.base import CodecBase

from kernel.errors import PayloadTooLarge
from protocol.grpc import decode_message

__all__ = ["KernelCodec"]


class KernelCodec(CodecBase):
    """Encodes and decodes gRPC messages, refusing requests over ``max_request_size`` bytes.

    A handler registered with message type ``bytes`` gets the serialized message untouched (the
    inference RPCs decode it with ``protocol.grpc``'s wire reader) and may send ``bytes`` it
    encoded itself. Every other type is a betterproto class. Errors surface from the handler's
    ``recv_message`` call, where the transport maps them to a status.
    """

    __content_subtype__ = "proto"

    def __init__(self, max_request_size: int) -> None:
        self.max_request_size = max_request_size

    def encode(self, message: Any, message_type: Any) -> bytes:
        if isinstance(message, bytes):
            return message
        if isinstance(message, betterproto.Message):
            return bytes(message)
        raise TypeError(f"cannot encode {type(message).__name__} as {message_type!r}")

    def decode(self, data: bytes, message_type: Any) -> Any:
        if len(data) > self.max_request_size:
            raise PayloadTooLarge(
                f"request of {len(data)} bytes is over the limit of {self.max_request_size} bytes"
            )
        if message_type is bytes:
            return data
        return decode_message(data, message_type)
