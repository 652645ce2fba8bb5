"""Turning a request's input tensors into the 2-D feature matrix scikit-learn takes.

Two layouts are accepted, and nothing is guessed between them:

- one input: ``[rows, features]`` is the matrix; a 1-D ``[rows]`` input is one feature column;
- several inputs: each is one column, ``[rows]`` or ``[rows, 1]``, stacked in request order.

BYTES tensors are decoded from UTF-8 to ``str`` so that pipelines fit on text columns (one-hot
encoders, vectorisers) see the values they were fit on.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kernel import BadRequest
from protocol.messages import RequestInput

__all__ = ["feature_matrix"]


def _as_array(tensor: RequestInput) -> np.ndarray[Any, Any]:
    """The tensor's data as an array of its declared shape."""
    data = tensor.data
    array = data if isinstance(data, np.ndarray) else np.asarray(data)
    shape = tuple(tensor.shape)
    if array.shape != shape:
        if array.size != int(np.prod(shape, dtype=np.int64)):
            raise BadRequest(
                f"input {tensor.name!r}: shape {list(shape)} needs"
                f" {int(np.prod(shape, dtype=np.int64))} elements, the data has {array.size}"
            )
        array = array.reshape(shape)
    if tensor.datatype == "BYTES" or array.dtype.kind in "SO":
        array = _decode_text(tensor.name, array)
    return array


def _decode_text(name: str, array: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    flat = array.reshape(-1)
    out = np.empty(flat.shape, dtype=object)
    try:
        for i, value in enumerate(flat):
            out[i] = value.decode("utf-8") if isinstance(value, bytes | bytearray) else value
    except UnicodeDecodeError as err:
        raise BadRequest(f"input {name!r}: element {i} is not UTF-8 text ({err.reason})") from err
    return out.reshape(array.shape)


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


def feature_matrix(inputs: list[RequestInput], model: str) -> np.ndarray[Any, Any]:
    """The ``[rows, features]`` matrix the request's inputs describe.

    Raises ``BadRequest`` naming the input when the layout is not one of the two above.
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
    columns = [_column(tensor) for tensor in inputs]
    rows = {column.shape[0] for column in columns}
    if len(rows) > 1:
        pairs = zip(inputs, columns, strict=True)
        counts = ", ".join(f"{t.name!r}: {c.shape[0]}" for t, c in pairs)
        raise BadRequest(f"model {model!r}: inputs have different row counts ({counts})")
    return np.column_stack(columns)
