"""What most runtimes do around the framework call, done once for all of them.

A runtime that serves a tabular model answers with named outputs (``predict``,
``predict_proba``, ...), reads a feature matrix from the request's inputs and a few integer
options from ``parameters.extra``. These helpers do each the same way for every runtime, with
the same ``BadRequest`` / ``SettingsError`` messages; what is particular to a framework (which
datatypes it takes, what its options mean) is passed in.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import Any

import numpy as np

from kernel.errors import BadRequest, SettingsError
from kernel.model_settings import ModelSettings
from protocol.datatypes import datatype_for_dtype
from protocol.errors import ProtocolError
from protocol.messages import UNSET, InferenceRequest, RequestInput

__all__ = [
    "PrepareInput",
    "default_output",
    "feature_column",
    "feature_matrix",
    "int_setting",
    "label_datatype",
    "requested_outputs",
    "tensor_array",
]

Array = np.ndarray[Any, Any]

#: ``prepare(tensor, array) -> array``: a runtime's check or conversion of one input's array
#: (already of the input's shape); raise ``BadRequest`` for a datatype the framework cannot take.
PrepareInput = Callable[[RequestInput, Array], Array]


def requested_outputs(
    request: InferenceRequest, available: Collection[str], default: str, *, model: str
) -> list[str]:
    """The output names the request asks for (``request.outputs``), else ``[default]``.

    Names may repeat; the order is the request's. Raises ``BadRequest`` listing the unknown
    names and what the model can produce when a name is not in ``available``.
    """
    outputs = request.outputs
    wanted = [default] if outputs is UNSET or not outputs else [o.name for o in outputs]
    # A plain loop: no list is built unless a name is unknown (the rare case).
    for name in wanted:
        if name not in available:
            unknown = [n for n in wanted if n not in available]
            raise BadRequest(
                f"model {model!r} cannot produce output {', '.join(map(repr, unknown))};"
                f" it can produce: {', '.join(available)}"
            )
    return wanted


def default_output(settings: ModelSettings, available: Sequence[str], *, what: str) -> str:
    """The output a request that names none gets: ``parameters.extra["predict_fn"]``, else
    ``predict`` when the model has it, else the first of ``available`` (which must not be
    empty).

    ``what`` describes the model for the message (``"this binary:logistic model"``); a
    ``predict_fn`` not in ``available`` raises ``SettingsError`` naming what it can produce.
    """
    fallback = "predict" if "predict" in available else available[0]
    value = settings.extra.get("predict_fn", fallback)
    if value not in available:
        raise SettingsError(
            f"model {settings.name!r}: parameters.extra.predict_fn is {value!r}, but"
            f" {what} can only produce: {', '.join(available)}"
        )
    return str(value)


def label_datatype(classes: Array) -> str:
    """The V2 datatype of a classifier's labels (its ``classes_``), for output metadata:
    ``BYTES`` for text labels and for any dtype V2 has no datatype for."""
    if classes.dtype.kind in "OUS":
        return "BYTES"
    try:
        return datatype_for_dtype(classes.dtype).name
    except ProtocolError:
        return "BYTES"


def int_setting(
    settings: ModelSettings,
    key: str,
    default: int,
    *,
    minimum: int = 0,
    also: Collection[int] = (),
    note: str = "",
) -> int:
    """``parameters.extra[key]``, an integer ``>= minimum`` (or one of ``also``); ``default``
    when the key is absent.

    Anything else (a bool, a string, a float, a smaller number) raises ``SettingsError``:
    ``parameters.extra.KEY must be a whole number >= MINIMUM (NOTE), not VALUE``; ``note``
    says what special values mean (``"0: all cores"``).
    """
    value = settings.extra.get(key, default)
    # bool is an int subclass; ``true`` in JSON is not a thread count.
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or (value < minimum and value not in also)
    ):
        meaning = f" ({note})" if note else ""
        raise SettingsError(
            f"model {settings.name!r}: parameters.extra.{key} must be a whole number"
            f" >= {minimum}{meaning}, not {value!r}"
        )
    return value


def tensor_array(tensor: RequestInput, prepare: PrepareInput | None = None) -> Array:
    """The input's data as an array of its declared shape, then ``prepare``'d.

    Raises ``BadRequest`` when the data does not hold as many elements as the shape needs.
    """
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
    return array if prepare is None else prepare(tensor, array)


def feature_column(tensor: RequestInput, prepare: PrepareInput | None = None) -> Array:
    """The input as one feature column: ``[rows]`` or ``[rows, 1]`` data as a 1-D array.

    Raises ``BadRequest`` naming the input for any other shape.
    """
    array = tensor_array(tensor, prepare)
    if array.ndim == 1:
        return array
    if array.ndim == 2 and array.shape[1] == 1:
        return array[:, 0]
    raise BadRequest(
        f"input {tensor.name!r} has shape {list(array.shape)}: with several inputs each one is a"
        " single feature column, [rows] or [rows, 1]"
    )


def _by_name(
    inputs: list[RequestInput],
    feature_names: Sequence[str] | None,
    strict: bool,
    model: str,
) -> list[RequestInput]:
    """The inputs in the model's feature order when they are named after its features."""
    if not feature_names:
        return inputs
    names = [tensor.name for tensor in inputs]
    known = set(feature_names)
    if not all(name in known for name in names):
        return inputs
    given = {tensor.name: tensor for tensor in inputs}
    if len(given) == len(inputs) == len(feature_names):
        return [given[name] for name in feature_names]
    if not strict:
        return inputs
    if len(given) != len(inputs):
        repeated = sorted({name for name in names if names.count(name) > 1})
        raise BadRequest(f"model {model!r}: inputs {', '.join(map(repr, repeated))} repeat")
    absent = [name for name in feature_names if name not in given]
    raise BadRequest(
        f"model {model!r}: inputs are named after its features, but"
        f" {', '.join(map(repr, absent))} {'is' if len(absent) == 1 else 'are'} missing"
    )


def feature_matrix(
    inputs: list[RequestInput],
    *,
    model: str,
    feature_names: Sequence[str] | None = None,
    strict_names: bool = False,
    n_features: int | None = None,
    prepare: PrepareInput | None = None,
) -> Array:
    """The ``[rows, features]`` matrix the request's inputs describe, in one of two layouts:

    - one input: ``[rows, features]`` is the matrix; a 1-D ``[rows]`` input is one column;
    - several inputs: each is one column (``[rows]`` or ``[rows, 1]``). When ``feature_names``
      are given and the inputs are named exactly after them, the columns are placed in that
      order; otherwise they are stacked in request order. With ``strict_names``, inputs that
      are all named after features but do not name each exactly once are a ``BadRequest``
      naming the repeated or missing ones (rather than taken in request order).

    ``prepare`` checks or converts each input's array (see ``PrepareInput``); ``n_features``,
    when given, is the width the model takes. Every layout, shape or width problem raises
    ``BadRequest`` naming the input.
    """
    if not inputs:
        raise BadRequest(f"model {model!r}: the request has no inputs")
    if len(inputs) == 1:
        tensor = inputs[0]
        array = tensor_array(tensor, prepare)
        if array.ndim == 2:
            matrix = array
        elif array.ndim == 1:
            matrix = array.reshape(-1, 1)
        else:
            raise BadRequest(
                f"input {tensor.name!r} has shape {list(array.shape)}: model {model!r} takes a"
                " [rows, features] matrix (or one [rows] column per input)"
            )
    else:
        ordered = _by_name(inputs, feature_names, strict_names, model)
        columns = [feature_column(tensor, prepare) for tensor in ordered]
        rows = {column.shape[0] for column in columns}
        if len(rows) > 1:
            pairs = zip(ordered, columns, strict=True)
            counts = ", ".join(f"{t.name!r}: {c.shape[0]}" for t, c in pairs)
            raise BadRequest(f"model {model!r}: inputs have different row counts ({counts})")
        matrix = np.column_stack(columns)
    if n_features is not None and matrix.shape[1] != n_features:
        raise BadRequest(
            f"model {model!r} expects {n_features} features per row, the request"
            f" has {matrix.shape[1]}"
        )
    return matrix
