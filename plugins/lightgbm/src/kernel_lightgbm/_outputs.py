"""The outputs a LightGBM model can produce, how each is computed from the ``Booster``, and the
metadata that describes them.

Every output is one ``Booster.predict`` call (labels are derived from the probabilities), so
each equals what LightGBM itself answers for the same rows and settings.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kernel import label_datatype
from kernel_lightgbm._model import LoadedModel
from protocol.messages import MetadataTensor

__all__ = ["OUTPUTS", "available_outputs", "compute", "output_metadata"]

#: Every output name the runtime knows, in the order metadata lists them.
OUTPUTS: tuple[str, ...] = (
    "predict",
    "predict_proba",
    "predict_raw",
    "predict_contrib",
    "predict_leaf",
)

#: ``Booster.predict`` keyword arguments per output (``predict`` of a classifier is computed
#: from ``predict_proba``).
_KWARGS: dict[str, dict[str, bool]] = {
    "predict": {},
    "predict_proba": {},
    "predict_raw": {"raw_score": True},
    "predict_contrib": {"pred_contrib": True},
    "predict_leaf": {"pred_leaf": True},
}


def available_outputs(model: LoadedModel) -> tuple[str, ...]:
    """The outputs this model can produce, in ``OUTPUTS`` order."""
    if model.kind == "classifier":
        return OUTPUTS
    return tuple(name for name in OUTPUTS if name != "predict_proba")


def _probabilities(model: LoadedModel, scores: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """``[rows, classes]``: a binary model's single column becomes ``[1 - p, p]``, as
    ``LGBMClassifier.predict_proba`` gives it."""
    if scores.ndim == 1:
        return np.column_stack((1.0 - scores, scores))
    return np.asarray(scores)


def _labels(model: LoadedModel, probabilities: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """The most probable class per row (ties to the lower index, as ``LGBMClassifier``)."""
    index: np.ndarray[Any, Any] = np.argmax(probabilities, axis=1)
    if model.classes is None:
        return index.astype(np.int64)
    labels: np.ndarray[Any, Any] = model.classes[index]
    if labels.dtype.kind in "US":
        return np.char.encode(labels.astype(str), "utf-8").astype(object)
    if labels.dtype.kind == "O":
        out = np.empty(labels.shape, dtype=object)
        for i, value in enumerate(labels):
            out[i] = value if isinstance(value, bytes) else str(value).encode("utf-8")
        return out
    return labels


def compute(
    model: LoadedModel, names: list[str], features: np.ndarray[Any, Any], threads: int
) -> dict[str, np.ndarray[Any, Any]]:
    """Each named output for ``features``; one ``Booster.predict`` call per distinct need."""
    results: dict[str, np.ndarray[Any, Any]] = {}
    classify = model.kind == "classifier"
    for name in names:
        if name in results:
            continue
        source = "predict_proba" if classify and name == "predict" else name
        if source not in results:
            raw = model.booster.predict(features, num_threads=threads, **_KWARGS[source])
            results[source] = (
                _probabilities(model, raw) if source == "predict_proba" else np.asarray(raw)
            )
        if name != source:
            results[name] = _labels(model, results[source])
    return results


def _label_datatype(model: LoadedModel) -> str:
    # Without a wrapper's classes, labels are the class indices (int64).
    return "INT64" if model.classes is None else label_datatype(model.classes)


def output_metadata(model: LoadedModel, name: str) -> MetadataTensor:
    """Metadata for one output: its datatype and shape."""
    classes = model.n_classes
    # Multi-class models keep one score (and one set of contributions) per class.
    per_class = classes if model.kind == "classifier" and classes > 2 else 1
    if name == "predict":
        datatype = _label_datatype(model) if model.kind == "classifier" else "FP64"
        return MetadataTensor(name=name, datatype=datatype, shape=[-1])
    if name == "predict_proba":
        return MetadataTensor(name=name, datatype="FP64", shape=[-1, classes])
    if name == "predict_raw":
        shape = [-1] if per_class == 1 else [-1, per_class]
        return MetadataTensor(name=name, datatype="FP64", shape=shape)
    if name == "predict_contrib":
        width = (model.n_features + 1) * per_class
        return MetadataTensor(name=name, datatype="FP64", shape=[-1, width])
    return MetadataTensor(name=name, datatype="INT32", shape=[-1, model.n_leaf_columns])
