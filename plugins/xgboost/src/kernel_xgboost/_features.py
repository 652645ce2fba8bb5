"""Turning a request's input tensors into the numeric ``[rows, features]`` matrix XGBoost reads.

Two layouts are accepted, and nothing is guessed between them:

- one input: ``[rows, features]`` is the matrix; a 1-D ``[rows]`` input is one feature column;
- several inputs: each is one column, ``[rows]`` or ``[rows, 1]``. When the model carries
  feature names and every input is named after one of them, columns are placed by name (every
  feature must then be present); otherwise they are stacked in request order.

``FP32`` and ``FP64`` matrices reach XGBoost as they are (no copy); other numeric types become
``float32``, the type XGBoost computes in. NaN is a missing value, as in XGBoost itself.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kernel import BadRequest
from protocol.messages import RequestInput

__all__ = ["feature_matrix"]

Array = np.ndarray[Any, Any]


def _as_array(tensor: RequestInput) -> Array:
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
    if array.dtype.kind not in "biuf":
        raise BadRequest(
            f"input {tensor.name!r} is {tensor.datatype}: XGBoost models take numeric inputs"
            " (FP32, FP64, INT*, UINT*, BOOL)"
        )
    return array


def _column(tensor: RequestInput) -> Array:
    array = _as_array(tensor)
    if array.ndim == 1:
        return array
    if array.ndim == 2 and array.shape[1] == 1:
        return array[:, 0]
    raise BadRequest(
        f"input {tensor.name!r} has shape {list(array.shape)}: with several inputs each one is a"
        " single feature column, [rows] or [rows, 1]"
    )


def _numeric(matrix: Array) -> Array:
    if matrix.dtype in (np.float32, np.float64):
        return matrix
    return matrix.astype(np.float32)


def _by_name(
    inputs: list[RequestInput], feature_names: tuple[str, ...] | None, model: str
) -> list[RequestInput]:
    if not feature_names:
        return inputs
    names = [tensor.name for tensor in inputs]
    known = set(feature_names)
    if not all(name in known for name in names):
        return inputs
    given = {tensor.name: tensor for tensor in inputs}
    if len(given) != len(inputs):
        repeated = sorted({name for name in names if names.count(name) > 1})
        raise BadRequest(f"model {model!r}: inputs {', '.join(map(repr, repeated))} repeat")
    absent = [name for name in feature_names if name not in given]
    if absent:
        raise BadRequest(
            f"model {model!r}: inputs are named after its features, but"
            f" {', '.join(map(repr, absent))} {'is' if len(absent) == 1 else 'are'} missing"
        )
    return [given[name] for name in feature_names]


def feature_matrix(
    inputs: list[RequestInput], model: str, feature_names: tuple[str, ...] | None = None
) -> Array:
    """The ``[rows, features]`` matrix the request's inputs describe.

    Raises ``BadRequest`` naming the input when the layout or the datatype is not one of the
    above.
    """
    if not inputs:
        raise BadRequest(f"model {model!r}: the request has no inputs")
    if len(inputs) == 1:
        tensor = inputs[0]
        array = _as_array(tensor)
        if array.ndim == 2:
            return _numeric(array)
        if array.ndim == 1:
            return _numeric(array.reshape(-1, 1))
        raise BadRequest(
            f"input {tensor.name!r} has shape {list(array.shape)}: model {model!r} takes a"
            " [rows, features] matrix (or one [rows] column per input)"
        )
    inputs = _by_name(inputs, feature_names, model)
    columns = [_column(tensor) for tensor in inputs]
    rows = {column.shape[0] for column in columns}
    if len(rows) > 1:
        pairs = zip(inputs, columns, strict=True)
        counts = ", ".join(f"{t.name!r}: {c.shape[0]}" for t, c in pairs)
        raise BadRequest(f"model {model!r}: inputs have different row counts ({counts})")
    return _numeric(np.column_stack(columns))
