"""The outputs an estimator can produce: which of its methods exist, what they return, and the
metadata that describes them.

scikit-learn hides methods an estimator cannot run (``SVC(probability=False)`` has no
``predict_proba``; a ``Pipeline`` has the methods of its last step), so ``hasattr`` is the
capability test.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kernel import label_datatype
from protocol.messages import MetadataTensor

__all__ = ["METHODS", "as_wire_array", "available_methods", "method_metadata"]

#: Every output name the runtime knows, in the order metadata lists them.
METHODS: tuple[str, ...] = (
    "predict",
    "predict_proba",
    "predict_log_proba",
    "decision_function",
    "transform",
)


def available_methods(estimator: Any) -> tuple[str, ...]:
    """The outputs this estimator can produce, in ``METHODS`` order."""
    return tuple(name for name in METHODS if callable(getattr(estimator, name, None)))


def _classes(estimator: Any) -> np.ndarray[Any, Any] | None:
    classes = getattr(estimator, "classes_", None)
    # Multi-output classifiers keep a list of arrays: no single label dtype or class count.
    return classes if isinstance(classes, np.ndarray) else None


def _transform_width(estimator: Any) -> int:
    names = getattr(estimator, "get_feature_names_out", None)
    if names is None:
        return -1
    try:
        return len(names())
    except Exception:
        # Many transformers cannot name their outputs (custom ones, or those fit on arrays
        # without feature names); an unknown width is what metadata says then.
        return -1


def method_metadata(estimator: Any, method: str) -> MetadataTensor:
    """Metadata for one output: its datatype and shape (``-1`` where unknown)."""
    classes = _classes(estimator)
    n_classes = -1 if classes is None else len(classes)
    if method == "predict":
        if classes is not None:
            return MetadataTensor(name=method, datatype=label_datatype(classes), shape=[-1])
        outputs = getattr(estimator, "n_outputs_", 1)
        shape = [-1, outputs] if isinstance(outputs, int) and outputs > 1 else [-1]
        return MetadataTensor(name=method, datatype="FP64", shape=shape)
    if method in ("predict_proba", "predict_log_proba"):
        return MetadataTensor(name=method, datatype="FP64", shape=[-1, n_classes])
    if method == "decision_function":
        shape = [-1] if n_classes in (-1, 2) else [-1, n_classes]
        return MetadataTensor(name=method, datatype="FP64", shape=shape)
    return MetadataTensor(name=method, datatype="FP64", shape=[-1, _transform_width(estimator)])


def as_wire_array(result: Any) -> np.ndarray[Any, Any]:
    """A method's result as an array the V2 codecs can carry.

    Sparse matrices (one-hot encoders) become dense; text labels become ``bytes`` elements,
    the in-memory form of a BYTES tensor.
    """
    if hasattr(result, "toarray"):
        result = result.toarray()
    array = np.asarray(result)
    if array.dtype.kind == "U":
        return np.char.encode(array, "utf-8").astype(object)
    if array.dtype.kind == "S":
        return array.astype(object)
    if array.dtype.kind == "O":
        flat = array.reshape(-1)
        if not all(isinstance(value, str | bytes) for value in flat):
            # Mixed pipelines (column transformers over text columns) can hand back numbers in
            # an object array: those are numbers on the wire.
            try:
                return array.astype(np.float64)
            except (TypeError, ValueError):
                pass
        out = np.empty(flat.shape, dtype=object)
        for i, value in enumerate(flat):
            out[i] = value if isinstance(value, bytes) else str(value).encode("utf-8")
        return out.reshape(array.shape)
    return array
