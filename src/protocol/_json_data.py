"""Tensor ``data`` in JSON: checked conversion of decoded JSON values, and flat lists out.

(The general path. Most all-JSON requests with flat ``data`` are taken by ``protocol._json_fast``
instead, which must accept exactly what this module accepts; the rest, every JSON response and
every error message come through here.)

A request body is decoded once by msgspec with ``data`` left as plain lists (the same work as
``msgspec.json.decode`` into lists). Then ``msgspec.convert`` checks each value's kind in C (no
strings in FP32, no floats or booleans in INT32, no numbers in BYTES) and numpy builds the array
(small flat data with one call; nested data checked not to be ragged). Ranges are checked:
integers before numpy 1.x could wrap them (numpy 2 raises on overflow), floats against the
target type's limit before the cast, so nothing silently becomes infinity.

(Keeping ``data`` as ``msgspec.Raw`` and parsing it with a typed decoder was measured: ~10 %
fewer instructions for a 1x4 request, ~20 % more at 1000x4, because skipping the raw value
already scans every number once. Not worth it.)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Final, cast

import msgspec
import numpy as np
import numpy.typing as npt

from protocol._shape import MAX_DIMS, element_count, format_shape
from protocol.datatypes import DATATYPES, Datatype, get_datatype
from protocol.errors import ProtocolError

__all__ = ["json_datatype", "tensor_from_json", "tensor_to_json"]

_ELEMENT: Final = {"bool": bool, "int": int, "float": float, "str": str}
_KIND: Final = {
    "bool": "JSON booleans",
    "int": "JSON integers",
    "float": "JSON numbers",
    "str": "JSON strings",
}
# A float at or beyond these rounds to infinity when cast (the largest finite value plus half an
# ulp), so a value below them, even written with fewer digits than the type prints, is accepted.
_FLOAT_LIMITS: Final = {"FP16": 65520.0, "FP32": 3.4028235677973366e38}
_SMALL: Final = 64
#: numpy 1.x wraps out-of-range Python ints into narrow integer dtypes (numpy 2 raises
#: OverflowError), so there integers are range-checked by hand.
_WRAPS_INTS: Final = np.lib.NumpyVersion(np.__version__) < "2.0.0"


def _nested(element: Any, depth: int) -> Any:
    for _ in range(depth):
        element = list[element]
    return element


# msgspec caches what it learns about a type on the type object: build each one once.
_TYPES: Final[dict[tuple[str, int], Any]] = {
    (row.name, 1): _nested(_ELEMENT[row.json], 1)
    for row in DATATYPES.values()
    if row.json is not None
}


def _target(row: Datatype, depth: int, nulls: bool = False) -> Any:
    key = (row.name + "?" if nulls else row.name, depth)
    target = _TYPES.get(key)
    if target is None:
        element: Any = _ELEMENT[row.json or "str"]
        target = _TYPES[key] = _nested(element | None if nulls else element, depth)
    return target


def json_datatype(datatype: str, tensor: str) -> Datatype:
    """The table row for ``datatype``, refusing the ones JSON cannot carry (BF16)."""
    row = get_datatype(datatype, tensor)
    if row.json is None:
        raise ProtocolError(
            f"{tensor}: {row.name} cannot be sent as JSON data; use the binary tensor data "
            "extension (parameters.binary_data_size) or gRPC raw contents"
        )
    return row


def _depth(values: Any, tensor: str) -> int:
    depth = 0
    while type(values) is list:
        depth += 1
        if depth > MAX_DIMS:
            raise ProtocolError(f"{tensor}: data is nested deeper than {MAX_DIMS} levels")
        if not values:
            break
        values = values[0]
    if depth == 0:
        raise ProtocolError(f"{tensor}: data must be a JSON array")
    return depth


def _out_of_range(values: Any, row: Datatype, tensor: str) -> ProtocolError:
    # Only on the error path: find the first offending value to name it.
    flat = np.array(values, dtype=object).reshape(-1)
    if row.json == "int":
        info = np.iinfo(cast(Any, row.dtype))
        bad = next(v for v in flat if not info.min <= v <= info.max)
        span = f"[{info.min}, {info.max}]"
    else:
        limit = _FLOAT_LIMITS[row.name]
        bad = next(v for v in flat if v is not None and not -limit < v < limit)
        span = f"±{np.finfo(cast(Any, row.dtype)).max}"
    return ProtocolError(f"{tensor}: {row.name} data holds {bad!r}, outside {span}")


def _build(
    values: Any, row: Datatype, count: int, depth: int, tensor: str, nulls: bool = False
) -> npt.NDArray[Any]:
    """``nulls``: float ``values`` hold ``None`` (NaN), which ``np.array`` turns into NaN."""
    limit = _FLOAT_LIMITS.get(row.name)
    if depth == 1 and count <= _SMALL and not nulls:
        # Small flat data (the 1-row request): checked with builtins, then one numpy call;
        # numpy's reductions and casts cost ~1 µs each whatever the size.
        if limit and count and max(max(values), -min(values)) >= limit:
            raise _out_of_range(values, row, tensor)
        if _WRAPS_INTS and row.json == "int" and count:
            _check_int_range(values, row, tensor)
        try:
            return np.array(values, dtype=row.dtype)
        except OverflowError:
            raise _out_of_range(values, row, tensor) from None
    dtype = np.dtype(np.float64) if limit else row.dtype
    if _WRAPS_INTS and row.json == "int" and count:
        _check_int_range(values, row, tensor)  # before numpy 1.x wraps them (with a warning)
    try:
        if depth == 1 and not nulls:
            array = np.fromiter(values, dtype=dtype, count=count)
        else:
            array = np.array(values, dtype=dtype)
    except OverflowError:
        raise _out_of_range(values, row, tensor) from None
    except ValueError as exc:
        raise ProtocolError(f"{tensor}: nested data is ragged (rows of different lengths)") from exc
    if limit and array.size:
        top = (
            np.abs(array[~np.isnan(array)]).max(initial=0.0)
            if nulls
            else max(array.max(), -array.min())
        )
        if top >= limit:
            raise _out_of_range(values, row, tensor)
    return array.astype(row.dtype, copy=False) if limit else array


def _check_int_range(values: Any, row: Datatype, tensor: str) -> None:
    info = np.iinfo(cast(Any, row.dtype))
    try:
        flat = np.array(values, dtype=object).reshape(-1)
        inside = info.min <= flat.min() and flat.max() <= info.max
    except (TypeError, ValueError):
        return  # ragged nested data: building the array says so
    if not inside:
        raise _out_of_range(values, row, tensor)


def _utf8(values: list[str], tensor: str) -> list[bytes]:
    try:
        return [value.encode() for value in values]
    except UnicodeEncodeError as exc:
        raise ProtocolError(f"{tensor}: BYTES data holds a string that is not valid UTF-8") from exc


def _text_array(values: Any, depth: int, tensor: str) -> npt.NDArray[np.object_]:
    if depth > 1:
        nested = np.array(values, dtype=object)
        if nested.ndim != depth:
            raise ProtocolError(f"{tensor}: nested data is ragged (rows of different lengths)")
        values = nested.reshape(-1).tolist()
    flat = np.empty(len(values), dtype=object)
    flat[:] = _utf8(values, tensor)
    return flat


def tensor_from_json(
    values: Any, shape: Sequence[int], datatype: str, tensor: str, *, nulls: bool = False
) -> npt.NDArray[Any]:
    """Validate a tensor's decoded JSON ``data`` (flat or nested lists) into an array of ``shape``.

    BOOL takes JSON booleans, integer types JSON integers within range, FP types JSON numbers
    within range, BYTES JSON strings (stored as UTF-8 ``bytes`` in an object array).
    """
    row = json_datatype(datatype, tensor)
    count = element_count(shape, tensor)
    depth = _depth(values, tensor)
    try:
        values = msgspec.convert(values, _target(row, depth, nulls and row.json == "float"))
    except msgspec.ValidationError as exc:
        raise _wrong_kind(exc, row, tensor) from None
    # ``null`` is how JSON answers carry NaN and infinity (see ``tensor_to_json``).
    with_nulls = nulls and row.json == "float" and _has_null(values, depth)
    return _to_array(values, row, shape, count, depth, tensor, with_nulls)


def _has_null(values: Any, depth: int) -> bool:
    if depth == 1:
        return None in values
    return any(_has_null(row, depth - 1) for row in values)


def _wrong_kind(exc: msgspec.ValidationError, row: Datatype, tensor: str) -> ProtocolError:
    where = str(exc).replace("`$", "`data")
    return ProtocolError(f"{tensor}: {row.name} data must be {_KIND[row.json or 'str']}: {where}")


def _to_array(
    values: Any,
    row: Datatype,
    shape: Sequence[int],
    count: int,
    depth: int,
    tensor: str,
    nulls: bool = False,
) -> npt.NDArray[Any]:
    if depth == 1 and len(values) != count:
        raise ProtocolError(
            f"{tensor}: shape {format_shape(shape)} needs {count} elements, got {len(values)}"
        )
    array = (
        _build(values, row, count, depth, tensor, nulls)
        if row.itemsize
        else _text_array(values, depth, tensor)
    )
    if array.size != count:
        raise ProtocolError(
            f"{tensor}: shape {format_shape(shape)} needs {count} elements, got {array.size} "
            f"(nested data of shape {format_shape(array.shape)})"
        )
    return array.reshape(shape)


def tensor_to_json(array: npt.NDArray[Any], row: Datatype, tensor: str) -> list[Any]:
    """The flat JSON list for ``array`` (already of ``row``'s dtype; BYTES: bytes or str).

    JSON has no NaN or infinity: they are written as ``null``, as MLServer does (clients such as
    tritonclient read ``null`` in a float tensor back as NaN); binary data keeps them exact.
    Raises ``ProtocolError`` for what JSON cannot carry at all: BF16, and BYTES that are not
    UTF-8; the message says to ask for binary data instead.
    """
    json_datatype(row.name, tensor)
    values: list[Any] = array.reshape(-1).tolist()
    # NaN and infinity survive a sum, so one C-speed pass over the list clears the common case.
    if row.json == "float" and not math.isfinite(sum(values)):
        return [v if math.isfinite(v) else None for v in values]
    if row.json != "str":
        return values
    try:
        return [v.decode() if isinstance(v, bytes) else _text(v, tensor) for v in values]
    except UnicodeDecodeError as exc:
        raise ProtocolError(
            f"{tensor}: BYTES data is not valid UTF-8, which JSON cannot carry; request it as "
            "binary data (parameters.binary_data)"
        ) from exc


def _text(value: Any, tensor: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bytearray | memoryview):
        return bytes(value).decode()
    raise ProtocolError(
        f"{tensor}: BYTES elements must be bytes or str, got {type(value).__name__}"
    )
