"""Requests as Spark DataFrames and transformed DataFrames as output arrays, through Arrow.

Named inputs become columns of their own type (numbers as numbers, BYTES as strings); a 2-d
tensor for a vector column travels as ``array<double>`` (Arrow carries arrays, not Spark's
vector type) and becomes a vector with ``array_to_vector`` inside the JVM. On the way back,
vector columns turn into arrays the same way before ``toPandas``, so no row is converted in
Python.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from kernel import BadRequest
from kernel_mllib._describe import ModelInfo
from protocol.messages import RequestInput

__all__ = ["feature_rows", "request_columns", "to_frame", "to_outputs"]


def _text(data: np.ndarray[Any, Any], name: str) -> np.ndarray[Any, Any]:
    try:
        return np.asarray(
            [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in data.tolist()],
            dtype=object,
        )
    except UnicodeDecodeError:
        raise BadRequest(f"input {name!r}: BYTES values must be UTF-8 text") from None


def _rows(tensor: RequestInput) -> int:
    data = tensor.data
    assert isinstance(data, np.ndarray)
    return int(data.shape[0]) if data.ndim else 1


def request_columns(
    inputs: Sequence[RequestInput], info: ModelInfo, model: str
) -> dict[str, np.ndarray[Any, Any]]:
    """The model's raw input columns from the request: by name, or a single feature tensor
    as the model's one vector column. ``BadRequest`` names what is missing or unknown."""
    by_name = {tensor.name: tensor for tensor in inputs}
    raw = info.raw_inputs
    if len(inputs) == 1 and inputs[0].name not in raw and len(info.vector_inputs) == 1 == len(raw):
        by_name = {raw[0]: inputs[0]}
    unknown = sorted(set(by_name) - set(raw))
    missing = [name for name in raw if name not in by_name]
    if unknown or missing:
        parts = []
        if missing:
            parts.append(f"missing input(s) {', '.join(map(repr, missing))}")
        if unknown:
            parts.append(f"unknown input(s) {', '.join(map(repr, unknown))}")
        raise BadRequest(
            f"model {model!r}: {'; '.join(parts)}; it takes {', '.join(map(repr, raw))}"
            + (" (or one feature tensor)" if len(raw) == 1 and info.vector_inputs else "")
        )
    rows = {_rows(t) for t in by_name.values()}
    if len(rows) > 1:
        raise BadRequest(f"model {model!r}: inputs have different row counts {sorted(rows)}")
    columns: dict[str, np.ndarray[Any, Any]] = {}
    for name in raw:
        data = by_name[name].data
        assert isinstance(data, np.ndarray)
        if name in info.vector_inputs:
            columns[name] = feature_rows(data, info.n_features, model, name)
            continue
        if data.ndim == 2 and data.shape[1] == 1:
            data = data.reshape(-1)
        if data.ndim != 1:
            raise BadRequest(
                f"model {model!r}: input {name!r} is a column; its shape must be [N] or [N, 1],"
                f" got {list(data.shape)}"
            )
        columns[name] = _text(data, name) if data.dtype == object else data
    return columns


def feature_rows(
    data: np.ndarray[Any, Any], n_features: int | None, model: str, name: str
) -> np.ndarray[Any, Any]:
    """A feature tensor as a float64 ``[rows, features]`` matrix (one row may come 1-d)."""
    if data.dtype == object or data.dtype.kind not in "biuf":
        raise BadRequest(f"model {model!r}: input {name!r} must be numeric, got {data.dtype}")
    matrix = data.reshape(1, -1) if data.ndim == 1 else data
    if matrix.ndim != 2:
        raise BadRequest(
            f"model {model!r}: input {name!r} must be [rows, features], got {list(data.shape)}"
        )
    if n_features is not None and matrix.shape[1] != n_features:
        raise BadRequest(
            f"model {model!r} expects {n_features} features per row, input {name!r}"
            f" has {matrix.shape[1]}"
        )
    return np.ascontiguousarray(matrix, dtype=np.float64)


def to_frame(session: Any, columns: dict[str, np.ndarray[Any, Any]], vectors: set[str]) -> Any:
    """A Spark DataFrame of ``columns``; those in ``vectors`` become vector columns."""
    import pandas as pd
    from pyspark.ml.functions import array_to_vector

    pdf = pd.DataFrame(
        {name: list(data) if name in vectors else data for name, data in columns.items()}
    )
    frame = session.createDataFrame(pdf)
    for name in vectors & set(columns):
        frame = frame.withColumn(name, array_to_vector(frame[name]))
    return frame


def arrays_of(frame: Any, names: Sequence[str]) -> Any:
    """``frame`` reduced to ``names``, vector columns turned into ``array<double>``."""
    from pyspark.ml.functions import vector_to_array
    from pyspark.ml.linalg import VectorUDT

    types = {f.name: f.dataType for f in frame.schema.fields}
    return frame.select(
        *[
            vector_to_array(frame[name]).alias(name) if isinstance(types[name], VectorUDT) else name
            for name in names
        ]
    )


def to_outputs(frame: Any, names: Sequence[str], model: str) -> dict[str, np.ndarray[Any, Any]]:
    """Collect ``names`` from a transformed DataFrame as arrays of their real shape and type."""
    available = set(frame.columns)
    unknown = [name for name in names if name not in available]
    if unknown:
        raise BadRequest(
            f"model {model!r} cannot produce output {', '.join(map(repr, unknown))};"
            f" its columns are: {', '.join(frame.columns)}"
        )
    pdf = arrays_of(frame, names).toPandas()
    return {name: column_array(pdf[name]) for name in names}


def column_array(series: Any) -> np.ndarray[Any, Any]:
    """A pandas column from Spark as a numpy array: arrays stack to ``[rows, k]``, text
    becomes BYTES (``bytes`` objects)."""
    values = series.to_numpy()
    if values.dtype != object:
        return np.asarray(values)
    present = [v for v in values if v is not None]
    if present and isinstance(present[0], np.ndarray | list):
        return np.stack([np.asarray(v) for v in values])
    if present and isinstance(present[0], str):
        return np.asarray([b"" if v is None else v.encode("utf-8") for v in values], dtype=object)
    return np.asarray(values)
