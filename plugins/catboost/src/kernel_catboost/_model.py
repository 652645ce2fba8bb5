"""What a loaded CatBoost model is and what it can answer, read from the model itself.

CatBoost keeps the loss function it was trained with, its class labels and its features
(names, which are categorical or text) inside the saved model, so the kind of model is known
without trying calls: classifiers are the losses CatBoost itself calls classification
objectives, rankers its ranking metrics, everything else regression.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from kernel import label_datatype
from protocol.messages import MetadataTensor

__all__ = ["OUTPUTS", "ModelInfo", "describe"]

#: Every output name the runtime knows, in the order metadata lists them.
OUTPUTS: tuple[str, ...] = ("predict", "predict_proba", "predict_raw", "predict_contrib")

#: The model-file magic of CatBoost's binary format; anything else is tried as JSON.
CBM_MAGIC = b"CBM1"


@dataclass(frozen=True)
class ModelInfo:
    """The facts the runtime needs about one loaded model.

    ``kind`` is ``classifier``, ``multilabel``, ``regressor``, ``multiregressor``, ``survival``
    or ``ranker``; ``predict_type`` is the CatBoost ``prediction_type`` behind ``predict``
    (what ``CatBoostClassifier/Regressor/Ranker.predict`` use for that loss).
    """

    loss: str
    kind: str
    predict_type: str
    outputs: tuple[str, ...]
    feature_names: tuple[str, ...]
    categorical: frozenset[int]
    text: frozenset[int]
    classes: np.ndarray[Any, Any] | None
    dimensions: int

    @property
    def n_features(self) -> int:
        return len(self.feature_names)

    @property
    def float_only(self) -> bool:
        """No categorical or text features: a plain numeric matrix is the whole input."""
        return not self.categorical and not self.text

    @property
    def default_names(self) -> bool:
        """CatBoost's own names (``"0"``, ``"1"``, ...) for a model trained without names."""
        return self.feature_names == tuple(str(i) for i in range(self.n_features))

    def feature_type(self, index: int) -> str:
        if index in self.categorical:
            return "categorical"
        if index in self.text:
            return "text"
        return "numeric"

    def output_metadata(self, name: str) -> MetadataTensor:
        """Datatype and shape of one output (``-1`` where the size depends on the request)."""
        dims = self.dimensions
        if name == "predict":
            if self.kind in ("classifier", "multilabel") and self.classes is not None:
                shape = [-1] if self.kind == "classifier" else [-1, dims]
                return MetadataTensor(name=name, datatype=label_datatype(self.classes), shape=shape)
            # RMSEWithUncertainty's two columns (mean, uncertainty) are its two dimensions.
            return MetadataTensor(name=name, datatype="FP64", shape=_rows(dims))
        if name == "predict_contrib":
            width = self.n_features + 1
            shape = [-1, width] if dims == 1 else [-1, dims, width]
            if self.loss == "RMSEWithUncertainty":
                # CatBoost explains the mean only, in a [rows, 1, features + 1] block.
                shape = [-1, 1, width]
            return MetadataTensor(name=name, datatype="FP64", shape=shape)
        if name == "predict_proba" and self.kind == "classifier" and dims == 1:
            return MetadataTensor(name=name, datatype="FP64", shape=[-1, 2])
        return MetadataTensor(name=name, datatype="FP64", shape=_rows(dims))


def _rows(width: int) -> list[int]:
    return [-1] if width == 1 else [-1, width]


def _kind(loss: str) -> str:
    # CatBoost's own predicates over loss names (the ones its estimators use to validate a
    # loss): every loss CatBoost knows, including ones added after this was written.
    from catboost._catboost import (
        is_classification_objective,
        is_multilabel_objective,
        is_multiregression_objective,
        is_survivalregression_objective,
    )
    from catboost.core import is_ranking_metric

    if is_multilabel_objective(loss):
        return "multilabel"
    if is_classification_objective(loss):
        return "classifier"
    if is_ranking_metric(loss):
        return "ranker"
    if is_multiregression_objective(loss):
        return "multiregressor"
    if is_survivalregression_objective(loss):
        return "survival"
    return "regressor"


def _predict_type(kind: str, loss: str) -> str:
    """What the framework's own ``predict`` computes for this loss."""
    if kind in ("classifier", "multilabel"):
        return "Class"
    if loss in ("Poisson", "Tweedie"):
        return "Exponent"
    if loss == "RMSEWithUncertainty":
        return "RMSEWithUncertainty"
    return "RawFormulaVal"


def _classes(model: Any) -> np.ndarray[Any, Any] | None:
    classes = getattr(model, "classes_", None)
    if not isinstance(classes, np.ndarray) or classes.size == 0:
        return None
    if classes.dtype.kind == "O":
        params = json.loads(model.get_metadata().get("class_params", "{}") or "{}")
        if params.get("class_label_type") == "String":
            return np.asarray([str(c) for c in classes], dtype=object)
    return classes


def _dimensions(model: Any) -> int:
    """Values per row of the raw formula: every leaf holds one value per dimension."""
    leaves = sum(int(n) for n in model.get_tree_leaf_counts())
    return max(1, len(model.get_leaf_values()) // leaves) if leaves else 1


def describe(model: Any) -> ModelInfo:
    """Read a loaded ``catboost.CatBoost`` model's kind, features and possible outputs."""
    loss = str(model._object._get_loss_function_name())
    kind = _kind(loss)
    predict_type = _predict_type(kind, loss)
    classes = _classes(model) if kind in ("classifier", "multilabel") else None
    if kind == "classifier" and classes is None:
        raise ValueError(f"the model's loss {loss} is a classification loss, but it has no classes")
    dimensions = _dimensions(model)
    outputs: tuple[str, ...] = ("predict", "predict_raw", "predict_contrib")
    if kind in ("classifier", "multilabel"):
        outputs = ("predict", "predict_proba", "predict_raw", "predict_contrib")
    if model.get_embedding_feature_indices():
        raise ValueError("the model has embedding features, which this runtime does not serve")
    return ModelInfo(
        loss=loss,
        kind=kind,
        predict_type=predict_type,
        outputs=outputs,
        feature_names=tuple(str(n) for n in model.feature_names_),
        categorical=frozenset(int(i) for i in model.get_cat_feature_indices()),
        text=frozenset(int(i) for i in model.get_text_feature_indices()),
        classes=classes,
        dimensions=dimensions,
    )
