"""Turning a request's input tensors into the rows a CatBoost model takes.

Two layouts are accepted:

- **one input**, ``[rows, features]`` (``[rows]`` is one feature column): numbers for a model
  with numeric features only; for a model with categorical or text features, a ``BYTES``
  matrix whose numeric columns hold numbers as text, or integer codes for the categories;
- **several inputs, one per feature** (the shape of a pandas DataFrame, as CatBoost users train
  with one), each ``[rows]`` or ``[rows, 1]``. When the input names are the model's feature
  names they are put in the model's order; when none of them is, they are taken in request
  order. Categorical and text columns are ``BYTES`` (decoded from UTF-8 to ``str``) or integers,
  numeric columns any numeric datatype.

The rows become one ``catboost.Pool``, built once per request whatever the outputs asked for:
over a ``float32`` matrix (CatBoost's own feature type) for a model with numeric features only,
over an object matrix with the categorical and text columns marked otherwise, as CatBoost
builds one from a DataFrame.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kernel import BadRequest, feature_column, tensor_array
from kernel_catboost._model import ModelInfo
from protocol.messages import RequestInput

__all__ = ["model_rows"]

Array = np.ndarray[Any, Any]


def _is_text(tensor: RequestInput, array: Array) -> bool:
    return tensor.datatype == "BYTES" or array.dtype.kind in "SOU"


def _text(name: str, column: Array) -> Array:
    """A categorical or text column as ``str`` values (integers as their decimal form)."""
    out = np.empty(column.shape, dtype=object)
    if column.dtype.kind in "iub":
        # As CatBoost reads a DataFrame's integer or bool column: "7", and "1"/"0".
        out[:] = [str(int(v)) for v in column]
        return out
    if column.dtype.kind not in "SOU":
        raise BadRequest(
            f"{name} is categorical or text: it takes BYTES or integers, not {column.dtype.name}"
        )
    i = 0
    try:
        for i, value in enumerate(column):
            out[i] = value.decode("utf-8") if isinstance(value, bytes | bytearray) else str(value)
    except UnicodeDecodeError as err:
        raise BadRequest(f"{name}: element {i} is not UTF-8 text ({err.reason})") from err
    return out


def _numbers(name: str, column: Array) -> Array:
    """A numeric feature column as ``float32``; text holding numbers is parsed."""
    if column.dtype.kind in "fiub":
        return column.astype(np.float32, copy=False)
    values = [v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in column]
    try:
        return np.asarray(values, dtype=np.float32)
    except (TypeError, ValueError) as err:
        message = f"{name} is a numeric feature; it holds a value that is not a number"
        raise BadRequest(message) from err


def _by_feature(inputs: list[RequestInput], info: ModelInfo, model: str) -> list[RequestInput]:
    """The inputs in the model's feature order: by name, or as sent when no name is a feature."""
    names = [tensor.name for tensor in inputs]
    known = set(info.feature_names)
    matched = [name for name in names if name in known]
    if not matched:
        if len(inputs) != info.n_features:
            raise BadRequest(
                f"model {model!r} expects {info.n_features} features per row, the request"
                f" has {len(inputs)}"
            )
        return inputs
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if duplicated:
        raise BadRequest(f"model {model!r}: inputs {', '.join(map(repr, duplicated))} repeat")
    unknown = [name for name in names if name not in known]
    missing = [name for name in info.feature_names if name not in set(names)]
    if unknown or missing:
        parts = []
        if missing:
            parts.append(f"missing feature(s) {', '.join(map(repr, missing))}")
        if unknown:
            parts.append(f"unknown input(s) {', '.join(map(repr, unknown))}")
        raise BadRequest(
            f"model {model!r} takes one input per feature, named"
            f" {', '.join(info.feature_names)}: {'; '.join(parts)}"
        )
    by_name = {tensor.name: tensor for tensor in inputs}
    return [by_name[name] for name in info.feature_names]


def _single(tensor: RequestInput, info: ModelInfo, model: str) -> Array:
    """The one input as a ``[rows, features]`` matrix of the model's width."""
    array = tensor_array(tensor)
    if array.ndim == 1:
        array = array.reshape(-1, 1)
    elif array.ndim != 2:
        raise BadRequest(
            f"input {tensor.name!r} has shape {list(array.shape)}: model {model!r} takes a"
            " [rows, features] matrix (or one [rows] column per feature)"
        )
    if array.shape[1] != info.n_features:
        raise BadRequest(
            f"model {model!r} expects {info.n_features} features per row, the request"
            f" has {array.shape[1]}"
        )
    return array


def _per_feature(inputs: list[RequestInput], info: ModelInfo) -> bool:
    """Whether the inputs are one column per feature: several of them, or a single one named
    after a feature of a wider model (so what is missing can be named)."""
    if len(inputs) > 1:
        return True
    return info.n_features > 1 and inputs[0].name in info.feature_names


def _columns(inputs: list[RequestInput], info: ModelInfo, model: str) -> list[tuple[str, Array]]:
    """One ``(label for messages, column)`` per model feature, in the model's order."""
    if not _per_feature(inputs, info):
        tensor = inputs[0]
        matrix = _single(tensor, info, model)
        return [(f"input {tensor.name!r} column {i}", matrix[:, i]) for i in range(matrix.shape[1])]
    ordered = _by_feature(inputs, info, model)
    columns = [(f"input {tensor.name!r}", feature_column(tensor)) for tensor in ordered]
    rows = {column.shape[0] for _, column in columns}
    if len(rows) > 1:
        counts = ", ".join(f"{label}: {column.shape[0]}" for label, column in columns)
        raise BadRequest(f"model {model!r}: inputs have different row counts ({counts})")
    return columns


def _numeric_only(label: str, column: Array, model: str) -> Array:
    if column.dtype.kind not in "fiub":
        raise BadRequest(
            f"{label} is {column.dtype.name}: model {model!r} has numeric features only"
        )
    return column


def model_rows(inputs: list[RequestInput], info: ModelInfo, model: str, threads: int) -> Any:
    """The ``catboost.Pool`` the request's rows make, built once for every output asked for,
    with ``threads`` threads. Raises ``BadRequest`` naming the input or feature that is wrong."""
    from catboost import CatBoostError

    try:
        return _pool(inputs, info, model, threads)
    except CatBoostError as err:
        # CatBoost's own checks of the values it is handed: the request's fault.
        raise BadRequest(f"model {model!r}: CatBoost rejected the input: {err}") from err


def _pool(inputs: list[RequestInput], info: ModelInfo, model: str, threads: int) -> Any:
    from catboost import Pool

    if not inputs:
        raise BadRequest(f"model {model!r}: the request has no inputs")
    if info.float_only and not _per_feature(inputs, info):
        # The fast path: one numeric matrix, converted at most once.
        matrix = _numeric_only(f"input {inputs[0].name!r}", _single(inputs[0], info, model), model)
        return Pool(np.ascontiguousarray(matrix, dtype=np.float32), thread_count=threads)
    columns = _columns(inputs, info, model)
    if info.float_only:
        checked = [_numeric_only(label, column, model) for label, column in columns]
        return Pool(np.column_stack(checked).astype(np.float32, copy=False), thread_count=threads)
    data = np.empty((columns[0][1].shape[0], len(columns)), dtype=object)
    for i, (label, column) in enumerate(columns):
        name = f"{label} (feature {info.feature_names[i]!r})"
        if i in info.categorical or i in info.text:
            data[:, i] = _text(name, column)
        else:
            data[:, i] = _numbers(name, column)
    return Pool(
        data,
        cat_features=sorted(info.categorical),
        text_features=sorted(info.text) or None,
        thread_count=threads,
    )
