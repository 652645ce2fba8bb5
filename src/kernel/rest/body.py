"""Reading a request body once, never past ``max_request_size``.

The declared ``Content-Length`` is checked before a byte is read; chunked bodies are counted as
they stream in; a compressed body (``Content-Encoding: gzip`` or ``deflate``, PROTOCOL.md §3) is
inflated at most to the same limit, so a small "zip bomb" cannot blow up memory either.
"""

from __future__ import annotations

import asyncio
import zlib

from starlette.requests import ClientDisconnect
from starlette.types import Receive, Scope

from kernel.errors import BadRequest, PayloadTooLarge

__all__ = ["read_body"]

#: Bodies above this many compressed bytes are inflated in a thread, off the event loop.
_INLINE_INFLATE = 256 * 1024
#: After a body goes over the limit, up to this many more bytes are read and dropped so the
#: client, still sending, gets to read the 413 instead of a reset connection. Past it the
#: connection is simply closed.
_DRAIN_MAX = 16 * 1024 * 1024


def _too_large(what: str, size: int | str, limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"{what} of {size} bytes is over the server's limit of {limit} bytes (max_request_size)"
    )


async def read_body(scope: Scope, receive: Receive, limit: int) -> tuple[bytes, int | None]:
    """Read the whole body of an HTTP request, decompressed.

    Returns ``(body, inference_header_length)``; the second item is the value of
    ``Inference-Header-Content-Length`` (matched case-insensitively), ``None`` when absent.
    Raises ``PayloadTooLarge`` past ``limit`` bytes and ``BadRequest`` for malformed headers or
    compressed data.
    """
    content_length: bytes | None = None
    encoding: bytes | None = None
    header_length: bytes | None = None
    # One pass over the raw header list: cheaper than building starlette's Headers object.
    for key, value in scope["headers"]:
        name = key.lower()
        if name == b"content-length":
            content_length = value
        elif name == b"inference-header-content-length":
            header_length = value
        elif name == b"content-encoding":
            encoding = value

    if content_length is not None:
        try:
            declared = int(content_length)
        except ValueError:
            raise BadRequest(
                f"Content-Length must be an integer, got {content_length.decode('latin-1')!r}"
            ) from None
        if declared > limit:
            if declared - limit <= _DRAIN_MAX:
                await _drain(receive, _DRAIN_MAX + limit)
            raise _too_large("request body", declared, limit)

    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        kind = message["type"]
        if kind == "http.request":
            chunk: bytes = message.get("body", b"")
            if chunk:
                size += len(chunk)
                if size > limit:
                    if message.get("more_body", False):
                        await _drain(receive, _DRAIN_MAX)
                    raise _too_large("request body", f"more than {limit}", limit)
                chunks.append(chunk)
            if not message.get("more_body", False):
                break
        elif kind == "http.disconnect":
            raise ClientDisconnect()
    # join() of a single bytes object returns that object: no copy in the common case.
    body = b"".join(chunks)

    if encoding is not None:
        coding = encoding.decode("latin-1").strip().lower()
        if coding not in ("", "identity"):
            if len(body) > _INLINE_INFLATE:
                body = await asyncio.to_thread(_inflate, body, coding, limit)
            else:
                body = _inflate(body, coding, limit)

    return body, _parse_header_length(header_length, len(body))


async def _drain(receive: Receive, budget: int) -> None:
    """Read and drop the rest of the body, up to ``budget`` bytes; memory stays one chunk."""
    while budget > 0:
        message = await receive()
        if message["type"] != "http.request":
            return
        budget -= len(message.get("body", b""))
        if not message.get("more_body", False):
            return


def _parse_header_length(raw: bytes | None, body_size: int) -> int | None:
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(
            f"Inference-Header-Content-Length must be an integer, got {raw.decode('latin-1')!r}"
        ) from None
    if not 0 <= value <= body_size:
        raise BadRequest(
            f"Inference-Header-Content-Length is {value} but the body has {body_size} bytes"
        )
    return value


def _inflate(data: bytes, coding: str, limit: int) -> bytes:
    """Decompress ``data`` (one or more gzip members / one deflate stream) to at most ``limit``."""
    if coding == "gzip":
        wbits = 16 + zlib.MAX_WBITS
    elif coding == "deflate":
        # RFC 9110 "deflate" is the zlib format; some clients send raw deflate, accepted below.
        wbits = zlib.MAX_WBITS
    else:
        raise BadRequest(f"unsupported Content-Encoding {coding!r} (supported: gzip, deflate)")

    parts: list[bytes] = []
    size = 0
    remaining = data
    while remaining:
        inflater = zlib.decompressobj(wbits)
        try:
            part = inflater.decompress(remaining, limit - size + 1)
        except zlib.error as exc:
            if coding == "deflate" and wbits > 0 and not parts:
                wbits = -zlib.MAX_WBITS
                continue
            raise BadRequest(f"request body is not valid {coding} data: {exc}") from None
        size += len(part)
        if size > limit:
            raise _too_large("decompressed request body", f"more than {limit}", limit)
        if not inflater.eof:
            raise BadRequest(f"request body is truncated {coding} data")
        parts.append(part)
        # gzip allows several members back to back; deflate has exactly one stream.
        remaining = inflater.unused_data if coding == "gzip" else b""
    return b"".join(parts)
