"""A cheaper ``repr`` for HTTP/2 DATA frames, with the same text.

h2 (grpclib's HTTP/2 layer) formats every frame it receives for its trace log whether or not
anything logs it (``logger.trace("Received frame: %s", repr(frame))`` in
``H2Connection._receive_frame``). hyperframe's ``DataFrame`` repr serializes the whole body
(a copy of the payload) and hex-encodes all of it, only to keep the first 20 hex digits. For a
gRPC request of 32 KB that is ~5 % of the server's CPU per request (py-spy, see
benchmarks/README.md), growing with the message: a 4 MB tensor costs a 4 MB copy and an 8 MB
string per request.

``install()`` replaces ``DataFrame._body_repr`` with one that serializes only the first 11
bytes of the body, which is all the repr ever shows (10 bytes as 20 hex digits, the eleventh
only decides the ``...``): the text is identical for every frame.
"""

from __future__ import annotations

from hyperframe import frame as _frame

__all__ = ["data_frame_body_repr", "install"]

#: What ``_raw_data_repr`` shows of a body, plus one byte to know whether it truncated.
_SHOWN = 11


def data_frame_body_repr(self: _frame.DataFrame) -> str:
    """``_raw_data_repr(self.serialize_body())`` without serializing the whole body."""
    head = self.serialize_padding_data() + bytes(self.data[:_SHOWN])
    if len(head) < _SHOWN:
        head += b"\0" * min(self.pad_length, _SHOWN - len(head))
    return _frame._raw_data_repr(head[:_SHOWN])


def install() -> None:
    """Use ``data_frame_body_repr`` for every ``DataFrame`` (idempotent, process-wide).

    Only where hyperframe has the private pieces this relies on (6.x); another version keeps
    its own repr, slower but correct, rather than a server that cannot start.
    """
    needed = ("_body_repr", "serialize_padding_data")
    if hasattr(_frame, "_raw_data_repr") and all(hasattr(_frame.DataFrame, n) for n in needed):
        setattr(_frame.DataFrame, "_body_repr", data_frame_body_repr)  # noqa: B010 (a method)
