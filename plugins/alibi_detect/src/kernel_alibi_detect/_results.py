"""A detector's result ``data`` dict as named arrays, the way the runtime answers with them.

Every field becomes an output of the same name with its own dtype. A field that is ``None``
(``p_val`` with ``return_p_val=False``) is left out. Shapes:

- offline detectors: an array field keeps its shape (``p_val`` ``[features]``,
  ``instance_score`` ``[rows]``); a scalar (``is_drift``, ``threshold``) is ``[1]``;
- online detectors: one result per instance, stacked: ``[rows, *shape]`` (a scalar is ``[rows]``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from kernel.errors import InferenceError
from protocol.datatypes import datatype_for_dtype
from protocol.errors import ProtocolError
from protocol.messages import MetadataTensor

__all__ = ["Arrays", "listing", "offline_arrays", "stacked_arrays"]

Array = np.ndarray[Any, Any]
Arrays = dict[str, Array]


def _array(name: str, value: Any) -> Array:
    array = np.asarray(value)
    # Numbers keep their dtype; text (a label) becomes BYTES when encoded.
    if array.dtype.kind not in "biufUSO":
        raise InferenceError(f"the detector's result field {name!r} is a {array.dtype} array")
    return array


def offline_arrays(data: Mapping[str, Any]) -> Arrays:
    """The fields of one result; scalars as ``[1]``."""
    arrays: Arrays = {}
    for name, value in data.items():
        if value is None:
            continue
        array = _array(name, value)
        arrays[name] = array.reshape(1) if array.ndim == 0 else array
    return arrays


def stacked_arrays(results: Sequence[Mapping[str, Any]]) -> Arrays:
    """One result per instance, each field stacked over the instances (``[rows, *shape]``).

    A field that is ``None`` in any instance's result is left out; a field whose shape changes
    between instances (which alibi-detect does not do) is an ``InferenceError`` naming it.
    """
    if not results:
        return {}
    arrays: Arrays = {}
    for name in results[0]:
        values = [result.get(name) for result in results]
        if any(value is None for value in values):
            continue
        parts = [_array(name, value) for value in values]
        shapes = {part.shape for part in parts}
        if len(shapes) > 1:
            raise InferenceError(
                f"the detector's result field {name!r} changes shape between instances"
                f" ({', '.join(str(list(s)) for s in sorted(shapes))})"
            )
        arrays[name] = np.stack(parts)
    return arrays


def _datatype(array: Array) -> str:
    try:
        return datatype_for_dtype(array.dtype).name
    except ProtocolError:
        return "BYTES"


def listing(first: Arrays, second: Arrays | None = None) -> list[MetadataTensor]:
    """Output metadata from results of two probe batches of different sizes: a dimension
    that differs between them depends on the batch and is ``-1``."""
    tensors = []
    for name, array in first.items():
        shape = list(array.shape)
        other = None if second is None else second.get(name)
        if other is not None and other.ndim == array.ndim:
            shape = [a if a == b else -1 for a, b in zip(array.shape, other.shape, strict=True)]
        tensors.append(MetadataTensor(name=name, datatype=_datatype(array), shape=shape))
    return tensors
