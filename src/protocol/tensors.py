"""Tensors between numpy and every wire form: JSON ``data``, binary blobs, gRPC raw contents.

Decoding validates at the edge and raises only ``ProtocolError``, whose message names the tensor
(``input 'x': shape [2,3] needs 6 elements, got 5``). Shapes are checked before anything is
allocated.

Binary blobs (the HTTP binary extension, gRPC ``raw_*_contents``) become arrays with
``np.frombuffer``: no copy, no per-element Python work. Such arrays share memory with the message
body and are **read-only** when the body is ``bytes``; a runtime that writes into an input must
copy it first. BYTES blobs hold, for each element, a 4-byte little-endian length then the bytes.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from protocol._json_data import (
    json_datatype,
    tensor_from_json,
    tensor_to_json,
)
from protocol._shape import MAX_DIMS, MAX_ELEMENTS, element_count, format_shape
from protocol.datatypes import Datatype, datatype_for_dtype, get_datatype
from protocol.errors import ProtocolError
from protocol.messages import UNSET, Parameters, RequestInput, ResponseOutput, UnsetType

__all__ = [
    "MAX_DIMS",
    "MAX_ELEMENTS",
    "as_tensor_array",
    "decode_bytes_elements",
    "element_count",
    "encode_bytes_elements",
    "input_from_numpy",
    "json_datatype",
    "output_from_numpy",
    "tensor_from_json",
    "tensor_from_raw",
    "tensor_to_json",
    "tensor_to_raw",
]

_LENGTH: Final = struct.Struct("<I")
_MAX_ELEMENT_BYTES: Final = 2**32 - 1
Buffer = bytes | bytearray | memoryview


def _bytes_view(buf: Buffer) -> memoryview:
    view = memoryview(buf)
    if view.format != "B" or view.ndim != 1:
        view = view.cast("B")
    return view


def decode_bytes_elements(buf: Buffer, count: int, tensor: str) -> npt.NDArray[np.object_]:
    """Split a BYTES blob into a 1-d object array of ``count`` ``bytes`` elements.

    Every length prefix is checked against what is left, and the blob must end exactly after
    the last element.
    """
    view = _bytes_view(buf)
    size = view.nbytes
    if count * _LENGTH.size > size:
        raise ProtocolError(
            f"{tensor}: {count} BYTES elements need at least {count * _LENGTH.size} bytes of "
            f"length prefixes, got {size}"
        )
    items: list[bytes] = []
    unpack = _LENGTH.unpack_from
    offset = 0
    for index in range(count):
        if offset + _LENGTH.size > size:
            raise ProtocolError(
                f"{tensor}: BYTES element {index}'s length prefix runs past the end of the data"
            )
        (length,) = unpack(view, offset)
        offset += _LENGTH.size
        end = offset + length
        if end > size:
            raise ProtocolError(
                f"{tensor}: BYTES element {index} has length {length}, which runs past the end "
                f"of the data ({size - offset} bytes left)"
            )
        items.append(bytes(view[offset:end]))
        offset = end
    if offset != size:
        raise ProtocolError(
            f"{tensor}: BYTES data has {size - offset} bytes left over after {count} elements"
        )
    out = np.empty(count, dtype=object)
    out[:] = items
    return out


def _element_bytes(value: Any, index: int, tensor: str) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        try:
            return value.encode()
        except UnicodeEncodeError as exc:
            raise ProtocolError(f"{tensor}: BYTES element {index} is not encodable") from exc
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    raise ProtocolError(
        f"{tensor}: BYTES element {index} is {type(value).__name__}, expected bytes or str"
    )


def encode_bytes_elements(
    array: npt.ArrayLike | Sequence[bytes | str], tensor: str = "tensor"
) -> bytes:
    """The BYTES blob of ``array`` (row-major): length-prefixed elements, ``str`` as UTF-8."""
    # A list goes through an object array: a bytes (``S``) array would drop trailing NULs.
    source = array if isinstance(array, np.ndarray) else np.asarray(array, dtype=object)
    values = source.reshape(-1).tolist()
    parts: list[bytes] = []
    pack = _LENGTH.pack
    for index, value in enumerate(values):
        data = _element_bytes(value, index, tensor)
        if len(data) > _MAX_ELEMENT_BYTES:
            raise ProtocolError(f"{tensor}: BYTES element {index} is longer than 2**32-1 bytes")
        parts.append(pack(len(data)))
        parts.append(data)
    return b"".join(parts)


def tensor_from_raw(
    shape: Sequence[int], datatype: str, raw: Buffer, tensor: str
) -> npt.NDArray[Any]:
    """Validate a binary blob against ``shape``/``datatype`` and return it as an array.

    Fixed-size types are a zero-copy ``np.frombuffer`` view of ``raw`` (read-only if ``raw`` is);
    BYTES is split into an object array of ``bytes``. BOOL bytes must be 0 or 1.
    """
    row = get_datatype(datatype, tensor)
    count = element_count(shape, tensor)
    if row.itemsize == 0:
        return decode_bytes_elements(raw, count, tensor).reshape(shape)
    view = _bytes_view(raw)
    need = count * row.itemsize
    if view.nbytes != need:
        raise ProtocolError(
            f"{tensor}: shape {format_shape(shape)} of {row.name} needs {need} bytes, "
            f"got {view.nbytes}"
        )
    array = np.frombuffer(view, dtype=row.dtype)
    if row.name == "BOOL" and count and _max_byte(array) > 1:
        raise ProtocolError(f"{tensor}: BOOL data must be bytes 0 or 1")
    return array.reshape(shape)


def _max_byte(array: npt.NDArray[Any]) -> int:
    """The largest byte in a BOOL array (to find bytes other than 0/1 without a copy)."""
    return int(array.view(np.uint8).max())


def as_tensor_array(
    data: Any, row: Datatype, shape: Sequence[int], tensor: str
) -> npt.NDArray[Any]:
    """``data`` (an ndarray, or a list) as an array of ``row``'s dtype holding ``shape``'s count.

    Numbers are cast when numpy calls it ``same_kind`` (float64 -> FP32 yes, float -> INT32 no);
    BYTES keeps its elements (bytes or str) in an object or text array.
    """
    count = element_count(shape, tensor)
    if data is UNSET or data is None:
        raise ProtocolError(f"{tensor}: has no data")
    if row.itemsize == 0:
        array = np.asarray(data, dtype=None if isinstance(data, np.ndarray) else object)
        if array.dtype.kind not in "OSU":
            raise ProtocolError(f"{tensor}: BYTES data is numpy {array.dtype}, not text or bytes")
    else:
        try:
            array = np.asarray(data)
            if array.dtype != row.dtype:
                array = array.astype(row.dtype, casting="same_kind")
        except (TypeError, ValueError) as exc:
            raise ProtocolError(f"{tensor}: data cannot be {row.name}: {exc}") from exc
    if array.size != count:
        raise ProtocolError(
            f"{tensor}: shape {format_shape(shape)} needs {count} elements, got {array.size}"
        )
    return array


def tensor_to_raw(array: npt.NDArray[Any], row: Datatype, tensor: str) -> bytes | memoryview:
    """The binary blob for ``array``: little-endian, row-major, no padding; BYTES prefixed.

    Fixed-size types come back as a ``memoryview`` of the array's own memory when it is already
    contiguous and little-endian (no copy); ``bytes(...)`` it if a ``bytes`` is needed.
    """
    if row.itemsize == 0:
        return encode_bytes_elements(array, tensor)
    flat = np.ascontiguousarray(array, dtype=row.dtype).reshape(-1)
    return flat.view(np.uint8).data


def _shape_of(array: npt.NDArray[Any]) -> list[int]:
    # ndarray.shape always holds Python ints: no per-dimension conversion needed.
    return list(array.shape)


def output_from_numpy(
    name: str, array: npt.ArrayLike, parameters: Parameters | UnsetType = UNSET
) -> ResponseOutput:
    """A ``ResponseOutput`` carrying ``array``; the datatype comes from its dtype.

    ``str``/``bytes``/object arrays are BYTES. Raises ``ProtocolError`` for dtypes with no V2
    datatype (complex, datetime, ...).
    """
    # Runtimes call this once per output of every request: a plain ndarray (what they nearly
    # always pass) skips np.asarray, which would only hand it back.
    data = array if type(array) is np.ndarray else np.asarray(array)
    row = datatype_for_dtype(data.dtype)
    return ResponseOutput(
        name=name, shape=_shape_of(data), datatype=row.name, parameters=parameters, data=data
    )


def input_from_numpy(name: str, array: npt.ArrayLike) -> RequestInput:
    """A ``RequestInput`` carrying ``array`` (for clients and tests); datatype from its dtype."""
    data = np.asarray(array)
    row = datatype_for_dtype(data.dtype)
    return RequestInput(name=name, shape=_shape_of(data), datatype=row.name, data=data)
