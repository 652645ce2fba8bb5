"""The V2 datatype table: one row per datatype, and lookups built once from it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np

from protocol.errors import ProtocolError

__all__ = [
    "DATATYPES",
    "Datatype",
    "datatype_for_dtype",
    "get_datatype",
]


@dataclass(frozen=True, slots=True)
class Datatype:
    """How one V2 datatype is carried by every wire form.

    ``itemsize`` is 0 for BYTES (variable length). ``dtype`` is the numpy dtype a decoded
    tensor has (``object`` for BYTES, whose elements are ``bytes``). ``json`` names the JSON
    value kind (``bool``, ``int``, ``float``, ``str``) or ``None`` when the type cannot be sent
    as JSON. ``contents_field`` is the typed gRPC field of ``InferTensorContents``, or ``None``
    when only raw contents can carry it. ``config_type`` is Triton's model-config enum name.
    """

    name: str
    itemsize: int
    dtype: np.dtype[np.generic]
    json: str | None
    contents_field: str | None
    config_type: str


def _bfloat16() -> np.dtype[np.generic] | None:
    # numpy has no bfloat16 of its own; ml_dtypes (a small, well-kept package) adds one.
    try:
        import ml_dtypes
    except ImportError:
        return None
    bf16: np.dtype[np.generic] = np.dtype(ml_dtypes.bfloat16)
    return bf16


def _table() -> dict[str, Datatype]:
    rows = [
        Datatype("BOOL", 1, np.dtype(np.bool_), "bool", "bool_contents", "TYPE_BOOL"),
        Datatype("UINT8", 1, np.dtype("<u1"), "int", "uint_contents", "TYPE_UINT8"),
        Datatype("UINT16", 2, np.dtype("<u2"), "int", "uint_contents", "TYPE_UINT16"),
        Datatype("UINT32", 4, np.dtype("<u4"), "int", "uint_contents", "TYPE_UINT32"),
        Datatype("UINT64", 8, np.dtype("<u8"), "int", "uint64_contents", "TYPE_UINT64"),
        Datatype("INT8", 1, np.dtype("<i1"), "int", "int_contents", "TYPE_INT8"),
        Datatype("INT16", 2, np.dtype("<i2"), "int", "int_contents", "TYPE_INT16"),
        Datatype("INT32", 4, np.dtype("<i4"), "int", "int_contents", "TYPE_INT32"),
        Datatype("INT64", 8, np.dtype("<i8"), "int", "int64_contents", "TYPE_INT64"),
        Datatype("FP16", 2, np.dtype("<f2"), "float", None, "TYPE_FP16"),
        Datatype("FP32", 4, np.dtype("<f4"), "float", "fp32_contents", "TYPE_FP32"),
        Datatype("FP64", 8, np.dtype("<f8"), "float", "fp64_contents", "TYPE_FP64"),
        Datatype("BYTES", 0, np.dtype(object), "str", "bytes_contents", "TYPE_STRING"),
    ]
    bf16 = _bfloat16()
    if bf16 is not None:
        rows.append(Datatype("BF16", 2, bf16, None, None, "TYPE_BF16"))
    return {row.name: row for row in rows}


DATATYPES: Final[dict[str, Datatype]] = _table()

_BY_DTYPE: Final[dict[np.dtype[np.generic], Datatype]] = {
    row.dtype: row for row in DATATYPES.values() if row.name != "BYTES"
}


def get_datatype(name: str, tensor: str = "") -> Datatype:
    """The table row for a V2 datatype name; a ``ProtocolError`` naming the tensor if unknown."""
    row = DATATYPES.get(name)
    if row is None:
        where = f"{tensor}: " if tensor else ""
        known = ", ".join(DATATYPES)
        raise ProtocolError(f"{where}unknown datatype {name!r} (known: {known})")
    return row


def datatype_for_dtype(dtype: np.dtype[np.generic]) -> Datatype:
    """The V2 datatype that carries a numpy dtype.

    Text, bytes and object arrays are BYTES; big-endian numbers map to their little-endian
    datatype (the codecs swap bytes on the way out).
    """
    if dtype.kind in "OSUT":
        return DATATYPES["BYTES"]
    row = _BY_DTYPE.get(dtype.newbyteorder("<") if dtype.byteorder == ">" else dtype)
    if row is None:
        raise ProtocolError(f"numpy dtype {dtype} has no V2 datatype")
    return row
