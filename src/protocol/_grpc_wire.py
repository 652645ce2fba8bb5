"""Protobuf wire-format primitives for the inference hot path.

Pure-Python betterproto decodes a packed ``repeated float`` of a million values in seconds; these
helpers read the few messages on the inference path straight from the bytes instead: varints,
length-delimited slices returned as ``memoryview`` (zero copy) and packed numeric fields read with
``np.frombuffer`` or a vectorised varint decoder. Every malformed input raises ``ProtocolError``.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Final

import numpy as np
import numpy.typing as npt

from protocol.errors import ProtocolError

__all__ = [
    "I32",
    "I64",
    "LEN",
    "VARINT",
    "Field",
    "encode_varint",
    "fields",
    "key",
    "len_field",
    "packed_varints",
    "read_varint",
    "to_int64",
]

VARINT: Final = 0
I64: Final = 1
LEN: Final = 2
I32: Final = 5

_U64: Final = 1 << 64
_I64_MIN: Final = 1 << 63

#: One field as read from the wire: (number, wire type, value). ``value`` is an int for VARINT,
#: I64 and I32 (the raw little-endian bits) and a memoryview slice for LEN.
Field = tuple[int, int, "int | memoryview"]


def read_varint(buf: memoryview, pos: int) -> tuple[int, int]:
    """The varint starting at ``pos`` and the position after it."""
    b = buf[pos]
    if b < 0x80:
        return b, pos + 1
    result = b & 0x7F
    shift = 7
    pos += 1
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result & (_U64 - 1), pos
        shift += 7
        if shift >= 70:
            raise ProtocolError("malformed protobuf: varint longer than 10 bytes")


def to_int64(value: int) -> int:
    """A varint read as a signed int64 (two's complement)."""
    return value - _U64 if value >= _I64_MIN else value


def fields(buf: memoryview) -> Iterator[Field]:
    """Every field of one message, in wire order (proto3 lets repeated fields interleave)."""
    pos = 0
    end = len(buf)
    try:
        while pos < end:
            tag, pos = read_varint(buf, pos)
            number = tag >> 3
            wire = tag & 7
            if number == 0:
                raise ProtocolError("malformed protobuf: field number 0")
            if wire == VARINT:
                value, pos = read_varint(buf, pos)
                yield number, wire, value
            elif wire == LEN:
                size, pos = read_varint(buf, pos)
                stop = pos + size
                if stop > end:
                    raise ProtocolError(
                        "malformed protobuf: field runs past the end of the message"
                    )
                yield number, wire, buf[pos:stop]
                pos = stop
            elif wire == I64:
                if pos + 8 > end:
                    raise ProtocolError("malformed protobuf: truncated 64-bit field")
                yield number, wire, int.from_bytes(buf[pos : pos + 8], "little")
                pos += 8
            elif wire == I32:
                if pos + 4 > end:
                    raise ProtocolError("malformed protobuf: truncated 32-bit field")
                yield number, wire, int.from_bytes(buf[pos : pos + 4], "little")
                pos += 4
            else:
                raise ProtocolError(f"malformed protobuf: unsupported wire type {wire}")
    except IndexError:
        raise ProtocolError("malformed protobuf: truncated varint") from None


def packed_varints(buf: memoryview) -> npt.NDArray[np.uint64]:
    """A packed repeated varint field, decoded with numpy (no Python loop per element)."""
    raw = np.frombuffer(buf, dtype=np.uint8)
    if raw.size == 0:
        return np.zeros(0, dtype=np.uint64)
    if raw[-1] >= 0x80:
        raise ProtocolError("malformed protobuf: truncated packed varint")
    ends = raw < 0x80
    if ends.all():  # every value < 128: one byte each
        return raw.astype(np.uint64)
    stops = np.flatnonzero(ends)
    starts = np.empty_like(stops)
    starts[0] = 0
    starts[1:] = stops[:-1] + 1
    lengths = stops - starts + 1
    longest = int(lengths.max())
    if longest > 10:
        raise ProtocolError("malformed protobuf: varint longer than 10 bytes")
    # Byte k of every varint at once (k < 10): bits 7k..7k+6 of its value. uint64 shifts wrap
    # exactly as protobuf's 64-bit varints do.
    result = (raw[starts] & 0x7F).astype(np.uint64)
    for k in range(1, longest):
        index = np.minimum(starts + k, stops)
        part = np.where(lengths > k, raw[index] & 0x7F, 0).astype(np.uint64)
        result |= part << np.uint64(7 * k)
    return result


# --- writing -----------------------------------------------------------------------------------

_SMALL: Final = [bytes([i]) for i in range(128)]


def encode_varint(value: int) -> bytes:
    """The varint bytes of a non-negative int (negative ints: pass ``value % 2**64``).

    Values below 2 MiB (one to three bytes: the tags, lengths and dims of most messages) are
    written without the loop."""
    if value < 0x80:
        return _SMALL[value]
    if value < 0x4000:
        return bytes((value & 0x7F | 0x80, value >> 7))
    if value < 0x200000:
        return bytes((value & 0x7F | 0x80, (value >> 7) & 0x7F | 0x80, value >> 14))
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def key(number: int, wire: int) -> bytes:
    """A field's tag bytes."""
    return encode_varint((number << 3) | wire)


def len_field(number: int, payload: bytes | memoryview) -> list[bytes | memoryview]:
    """Chunks for a length-delimited field; joined later so large payloads are copied once."""
    return [key(number, LEN), encode_varint(len(payload)), payload]


def pack_double(value: float) -> bytes:
    """The 8 little-endian bytes of a double."""
    return struct.pack("<d", value)
