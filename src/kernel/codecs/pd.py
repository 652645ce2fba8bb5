"""``pd``: a pandas DataFrame, one tensor per column named by the column (request level).

pandas is optional and imported only when a frame is decoded or encoded; without it the request
is a 400 that names the extra to install. Round trips are exact because each column's ``meta``
(kept in the message's ``content_schema`` parameter, see docs/content-types.md) records:

- ``dtype``: the pandas dtype as ``str(dtype)`` (``int64``, ``Int64``, ``boolean``, ``string``,
  ``datetime64[ns, Europe/Paris]``, ``category``, ...);
- ``na``: the row positions of missing values (the wire holds 0, ``False`` or ``""`` there,
  since JSON has no NaN and BYTES has no null);
- for ``category``: ``categories`` (a JSON list), ``categories_dtype`` and ``ordered``; the wire
  holds the category values themselves, so other clients read plain columns.

Columns are 1-d tensors of the row count: numbers and bools as themselves, text as BYTES with
content type ``str``, date-times as ISO-8601 BYTES with content type ``datetime``, ``bytes`` as
base64 BYTES with content type ``base64`` (JSON cannot carry arbitrary bytes).
"""

from __future__ import annotations

import base64
import importlib
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from kernel.codecs.base import CodecError, Meta, RequestCodec, Tensor, text_array, utf8

if TYPE_CHECKING:
    from kernel.codecs.registry import CodecRegistry

__all__ = ["PandasRequestCodec", "import_pandas"]

INSTALL_HINT = "pip install 'kernel[pandas]'"


def import_pandas() -> Any:
    """pandas, or a ``CodecError`` (400) naming the extra that provides it."""
    try:
        # By name: pandas is optional, and its module is only ever used as ``Any`` here.
        return importlib.import_module("pandas")
    except ImportError:
        raise CodecError(
            f"content type 'pd' needs pandas, which is not installed on the server ({INSTALL_HINT})"
        ) from None


# --- encoding ----------------------------------------------------------------------------------


def _json_values(index: Any, column: str) -> list[Any]:
    if index.dtype.kind == "M":
        return [v.isoformat() for v in index]
    values = index.tolist()
    for v in values:
        if not isinstance(v, str | int | float | bool):
            raise CodecError(
                f"column {column!r}: categories of dtype {index.dtype} cannot be described"
            )
    return list(values)


def _encode_values(pd: Any, name: str, series: Any, na: npt.NDArray[np.bool_]) -> Tensor:
    """A column without categories: numbers as themselves, text and date-times as BYTES."""
    dtype = series.dtype
    count = len(series)
    if isinstance(dtype, pd.DatetimeTZDtype) or dtype.kind == "M":
        if isinstance(dtype, pd.DatetimeTZDtype):
            values = series.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()
            texts = np.datetime_as_string(values, timezone="UTC")
        else:
            texts = np.datetime_as_string(series.to_numpy())
        items = [
            b"" if missing else t.encode() for t, missing in zip(texts.tolist(), na, strict=True)
        ]
        return Tensor(name, [count], "BYTES", text_array(items), "datetime")
    if dtype.kind in "biuf":
        numpy_dtype = getattr(dtype, "numpy_dtype", dtype)
        if isinstance(dtype, np.dtype):
            values = series.to_numpy()
            if na.any():
                values = np.where(na, values.dtype.type(0), values)
        else:
            values = series.to_numpy(dtype=numpy_dtype, na_value=numpy_dtype.type(0))
        from kernel.codecs.np import NumpyCodec

        tensor = NumpyCodec().encode(name, np.ascontiguousarray(values))
        return tensor
    if dtype.kind == "O" or isinstance(dtype, pd.StringDtype):
        cells = series.to_numpy(dtype=object).tolist()
        present = [c for c, missing in zip(cells, na, strict=True) if not missing]
        if all(isinstance(c, str) for c in present):
            items = [b"" if m else c.encode() for c, m in zip(cells, na, strict=True)]
            return Tensor(name, [count], "BYTES", text_array(items), "str")
        if all(isinstance(c, bytes) for c in present):
            # base64, so that any bytes also travel as JSON text.
            items = [b"" if m else base64.b64encode(c) for c, m in zip(cells, na, strict=True)]
            return Tensor(name, [count], "BYTES", text_array(items), "base64")
        kinds = sorted({type(c).__name__ for c in present})
        raise CodecError(
            f"column {name!r}: object values must all be str or all bytes, got {', '.join(kinds)}"
        )
    raise CodecError(f"column {name!r}: dtype {dtype} has no content type")


def encode_column(pd: Any, name: str, series: Any) -> Tensor:
    """One DataFrame column as a tensor with the ``meta`` to rebuild it exactly."""
    dtype = series.dtype
    na = series.isna().to_numpy(dtype=bool)
    meta: Meta = {"dtype": str(dtype)}
    if isinstance(dtype, pd.CategoricalDtype):
        categories = dtype.categories
        codes = series.cat.codes.to_numpy()
        meta |= {
            "categories": _json_values(categories, name),
            "categories_dtype": str(categories.dtype),
            "ordered": bool(dtype.ordered),
        }
        if len(categories):
            inner = pd.Series(categories.take(np.where(codes < 0, 0, codes)))
            tensor = _encode_values(pd, name, inner, na)
        else:
            tensor = Tensor(name, [len(series)], "BYTES", text_array([b""] * len(series)), "str")
    else:
        tensor = _encode_values(pd, name, series, na)
    if na.any():
        meta["na"] = np.flatnonzero(na).tolist()
    tensor.meta = {**tensor.meta, **meta}
    return tensor


# --- decoding ----------------------------------------------------------------------------------


def _column_data(tensor: Tensor) -> npt.NDArray[Any]:
    data = np.asarray(tensor.data)
    if data.ndim != 1:
        if data.ndim == 2 and data.shape[1] == 1:
            return data.reshape(-1)
        raise CodecError(
            f"column {tensor.name!r}: shape {list(data.shape)} is not a column"
            " (a column tensor has shape [N] or [N, 1])"
        )
    return data


def _missing(tensor: Tensor, count: int) -> npt.NDArray[np.bool_]:
    na = np.zeros(count, dtype=bool)
    positions = tensor.meta.get("na") or []
    try:
        index = np.asarray(positions, dtype=np.int64).reshape(-1)
        if index.size and (index.min() < 0 or index.max() >= count):
            raise IndexError
        na[index] = True
    except (IndexError, ValueError, TypeError):
        raise CodecError(
            f"column {tensor.name!r}: content_schema 'na' must list row positions below {count}"
        ) from None
    return na


def _decode_datetimes(pd: Any, tensor: Tensor, texts: list[str | None], dtype: str | None) -> Any:
    aware = dtype is not None and "," in dtype
    try:
        series = pd.to_datetime(pd.Series(texts, dtype=object), format="ISO8601", utc=aware)
        if dtype is not None:
            series = series.astype(dtype)
    except (ValueError, TypeError) as exc:
        raise CodecError(f"column {tensor.name!r}: not ISO-8601 date-times: {exc}") from None
    return series


def _decode_values(pd: Any, tensor: Tensor, na: npt.NDArray[np.bool_], dtype: str | None) -> Any:
    data = _column_data(tensor)
    ct = tensor.content_type
    if tensor.datatype == "BYTES":
        raw = [v.encode() if isinstance(v, str) else bytes(v) for v in data.tolist()]
        if ct in ("base64", "np"):
            if ct == "base64":
                from kernel.codecs.base64 import Base64Codec

                raw = Base64Codec().decode(
                    Tensor(tensor.name, [len(raw)], "BYTES", text_array(raw))
                )
            cells: list[Any] = [None if m else v for v, m in zip(raw, na, strict=True)]
            return pd.Series(cells, dtype=object)
        if ct == "datetime" or (dtype or "").startswith("datetime64"):
            texts = utf8(raw, tensor.name)
            return _decode_datetimes(
                pd, tensor, [None if m else t for t, m in zip(texts, na, strict=True)], dtype
            )
        if ct is None and dtype is None:
            try:
                texts = utf8(raw, tensor.name)
            except CodecError:  # undeclared binary data stays bytes
                return pd.Series(raw, dtype=object)
        else:
            texts = utf8(raw, tensor.name)
        series = pd.Series([None if m else t for t, m in zip(texts, na, strict=True)], dtype=object)
        return series if dtype in (None, "object") else series.astype(dtype)
    if dtype is None or dtype == str(data.dtype):
        if na.any():
            data = data.astype(np.float64) if data.dtype.kind in "iub" else data.copy()
            data[na] = np.nan
        return pd.Series(data, copy=False)
    try:
        series = pd.Series(pd.array(data, dtype=dtype))
    except (TypeError, ValueError) as exc:
        raise CodecError(f"column {tensor.name!r}: cannot be {dtype}: {exc}") from None
    if na.any():
        series[na] = pd.NA if not isinstance(series.dtype, np.dtype) else np.nan
    return series


def decode_column(pd: Any, tensor: Tensor) -> Any:
    """One tensor as a Series, rebuilt from its ``meta`` when there is one."""
    count = int(np.asarray(tensor.data).size)
    na = _missing(tensor, count)
    dtype = tensor.meta.get("dtype")
    if dtype == "category":
        meta = tensor.meta
        cat_dtype = meta.get("categories_dtype")
        values = _decode_values(pd, tensor, na, None if cat_dtype == "object" else cat_dtype)
        raw_categories = meta.get("categories") or []
        if cat_dtype and cat_dtype.startswith("datetime64"):
            categories = pd.Index(pd.to_datetime(raw_categories, format="ISO8601")).astype(
                cat_dtype
            )
        else:
            categories = pd.Index(raw_categories, dtype=cat_dtype or None)
        category = pd.CategoricalDtype(categories, ordered=bool(meta.get("ordered")))
        values = values.astype(object)
        values[na] = None
        return values.astype(category)
    if dtype is not None and not isinstance(dtype, str):
        raise CodecError(f"column {tensor.name!r}: content_schema 'dtype' must be a string")
    try:
        return _decode_values(pd, tensor, na, dtype)
    except TypeError as exc:
        raise CodecError(f"column {tensor.name!r}: {exc}") from None


class PandasRequestCodec(RequestCodec):
    """Request-level ``pd``."""

    content_type = "pd"

    @classmethod
    def python_type(cls) -> Any:
        return import_pandas().DataFrame

    def decode(self, tensors: Sequence[Tensor], codecs: CodecRegistry) -> Any:
        pd = import_pandas()
        columns: dict[str, Any] = {}
        rows: int | None = None
        for tensor in tensors:
            series = decode_column(pd, tensor)
            if rows is not None and len(series) != rows:
                raise CodecError(
                    f"content type 'pd': column {tensor.name!r} has {len(series)} rows,"
                    f" {next(iter(columns))!r} has {rows}"
                )
            rows = len(series)
            columns[tensor.name] = series
        return pd.DataFrame(columns)

    def encode(self, value: Any, codecs: CodecRegistry, names: Sequence[str] = ()) -> list[Tensor]:
        pd = import_pandas()
        if not isinstance(value, pd.DataFrame):
            raise CodecError(f"content type 'pd' encodes a DataFrame, got {type(value).__name__}")
        names_seen: set[str] = set()
        out = []
        for position, column in enumerate(value.columns):
            name = str(column)
            if name in names_seen:
                raise CodecError(f"content type 'pd': two columns are named {name!r}")
            names_seen.add(name)
            series = value.iloc[:, position].reset_index(drop=True)
            out.append(encode_column(pd, name, series))
        return out

    def can_encode(self, value: Any) -> bool:
        pandas = sys.modules.get("pandas")
        return pandas is not None and isinstance(value, pandas.DataFrame)
