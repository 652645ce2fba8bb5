"""Turning a request's input tensors into the 2-D numeric matrix ``Booster.predict`` takes.

Two layouts are accepted:

- one input: ``[rows, features]`` is the matrix; a 1-D ``[rows]`` input is one feature column;
- several inputs: each is one column, ``[rows]`` or ``[rows, 1]``. When the model carries
  feature names and the inputs' names are exactly those names, the columns are placed by name
  (a pandas-shaped request); otherwise they are stacked in request order.

LightGBM reads ``float32`` and ``float64`` matrices as they are (no copy); every other numeric
type becomes ``float64``. ``NaN`` is a missing value, as LightGBM treats it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kernel import BadRequest
from protocol.messages import RequestInput

__all__ = ["feature_matrix"]


def _as_array(tensor: RequestInput) -> np.ndarray[Any, Any]:
    """The tensor's data as a float array of its declared shape."""
    data = tensor.data
    array = data if isinstance(data, np.ndarray) else np.asarray(data)
    shape = tuple(tensor.shape)
    if array.shape != shape:
        expected = int(np.prod(shape, dtype=np.int64))
        if array.size != expected:
            raise BadRequest(
                f"input {tensor.name!r}: shape {list(shape)} needs {expected} elements,"
                f" the data has {array.size}"
            )
        array = array.reshape(shape)
    if array.dtype.kind not in "fiub" or tensor.datatype == "BYTES":
        raise BadRequest(
            f"input {tensor.name!r} is {tensor.datatype}: LightGBM models take numeric inputs"
            " (FP*, INT*, UINT*, BOOL)"
        )
    if array.dtype not in (np.float32, np.float64):
        array = array.astype(np.float64)
    return array


def _column(tensor: RequestInput) -> np.ndarray[Any, Any]:
    array = _as_array(tensor)
    if array.ndim == 1:
        return array
    if array.ndim == 2 and array.shape[1] == 1:
        return array[:, 0]
    raise BadRequest(
        f"input {tensor.name!r} has shape {list(array.shape)}: with several inputs each one is a"
        " single feature column, [rows] or [rows, 1]"
    )


def _by_name(inputs: list[RequestInput], feature_names: list[str] | None) -> list[RequestInput]:
    """The inputs in the model's feature order when their names are exactly its features."""
    if feature_names is None or len(inputs) != len(feature_names):
        return inputs
    named = {tensor.name: tensor for tensor in inputs}
    if set(named) != set(feature_names):
        return inputs
    return [named[name] for name in feature_names]


def feature_matrix(
    inputs: list[RequestInput], model: str, feature_names: list[str] | None = None
) -> np.ndarray[Any, Any]:
    """The ``[rows, features]`` matrix the request's inputs describe.

    ``feature_names`` are the model's own names (``None`` when it has only LightGBM's
    generated ``Column_<i>``). Raises ``BadRequest`` naming the input when the layout is not one
    of the two above, or an input is not numeric.
    """
    if not inputs:
        raise BadRequest(f"model {model!r}: the request has no inputs")
    if len(inputs) == 1:
        tensor = inputs[0]
        array = _as_array(tensor)
        if array.ndim == 2:
            return array
        if array.ndim == 1:
            return array.reshape(-1, 1)
        raise BadRequest(
            f"input {tensor.name!r} has shape {list(array.shape)}: model {model!r} takes a"
            " [rows, features] matrix (or one [rows] column per input)"
        )
    ordered = _by_name(inputs, feature_names)
    columns = [_column(tensor) for tensor in ordered]
    rows = {column.shape[0] for column in columns}
    if len(rows) > 1:
        pairs = zip(ordered, columns, strict=True)
        counts = ", ".join(f"{t.name!r}: {c.shape[0]}" for t, c in pairs)
        raise BadRequest(f"model {model!r}: inputs have different row counts ({counts})")
    # column_stack of float32 and float64 columns gives float64: one dtype for the matrix.
    return np.column_stack(columns)
