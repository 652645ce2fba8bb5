"""Response classes that write bytes the protocol codecs already produced.

Starlette's generic ``Response.__init__`` renders content and rebuilds header lists from a
mapping on every request; here the raw ASGI header list is built directly, and JSON bodies come
from the protocol package's shared msgspec encoder (no dict round trip).
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from protocol.rest import encode_json

__all__ = [
    "JSON",
    "OCTET_STREAM",
    "PROMETHEUS_TEXT",
    "JSONStructResponse",
    "WireResponse",
]

JSON = b"application/json"
OCTET_STREAM = b"application/octet-stream"
PROMETHEUS_TEXT = b"text/plain; version=0.0.4; charset=utf-8"


class WireResponse(Response):
    """A finished body with its content type and optional extra raw headers."""

    def __init__(
        self,
        body: bytes,
        status_code: int = 200,
        media_type: bytes = JSON,
        extra_headers: list[tuple[bytes, bytes]] | None = None,
        *,
        raw_headers: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        # Deliberately not calling Response.__init__: everything it computes is set here.
        self.status_code = status_code
        self.background = None
        self.body = body
        if raw_headers is not None:  # complete already (content-length included)
            self.raw_headers = raw_headers
            return
        headers = [
            (b"content-length", str(len(body)).encode("ascii")),
            (b"content-type", media_type),
        ]
        if extra_headers:
            headers.extend(extra_headers)
        self.raw_headers = headers


class JSONStructResponse(WireResponse):
    """A msgspec Struct (or list/dict of them) as JSON, encoded once by ``protocol.rest``."""

    def __init__(
        self,
        content: Any,
        status_code: int = 200,
        extra_headers: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        super().__init__(encode_json(content), status_code, JSON, extra_headers)
