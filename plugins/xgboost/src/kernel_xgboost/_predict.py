"""Computing each output from a booster and a ``[rows, features]`` matrix.

``predict``, ``predict_proba`` and ``predict_raw`` use ``Booster.inplace_predict``, which reads
the numpy matrix directly; only SHAP contributions, leaf indices and linear boosters
(``gblinear``) need a ``DMatrix``, which XGBoost requires for them. Labels and probabilities
are derived exactly as XGBoost's scikit-learn wrappers derive them, so the answers equal
``XGBClassifier.predict`` and ``predict_proba`` on the same rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from kernel_xgboost._kinds import ModelInfo

__all__ = ["Predictor"]

Array = np.ndarray[Any, Any]


@dataclass(frozen=True)
class Predictor:
    """One loaded model's prediction calls; safe to use from several threads at once (XGBoost's
    CPU prediction is thread-safe and the booster is never changed after load)."""

    booster: Any  # xgboost.Booster
    info: ModelInfo
    missing: float
    nthread: int

    @property
    def iteration_range(self) -> tuple[int, int]:
        # A model trained with early stopping predicts with the trees up to its best
        # iteration, as XGBClassifier/XGBRegressor.predict do; (0, 0) means every tree.
        best = self.info.best_iteration
        return (0, best + 1) if best is not None else (0, 0)

    def _inplace(self, features: Array, predict_type: str, memo: dict[str, Array]) -> Array:
        # ``memo`` holds this request's results: predict and predict_proba share one call.
        if predict_type in memo:
            return memo[predict_type]
        memo[predict_type] = self._compute(features, predict_type)
        return memo[predict_type]

    def _compute(self, features: Array, predict_type: str) -> Array:
        if self.info.booster_type == "gblinear":
            # Linear boosters have no in-place prediction: they go through a DMatrix.
            return self._dmatrix_predict(features, output_margin=predict_type == "margin")
        result = self.booster.inplace_predict(
            features,
            iteration_range=self.iteration_range,
            predict_type=predict_type,
            missing=self.missing,
            validate_features=False,  # numpy has no column names; the width is checked before
        )
        return np.asarray(result)

    def _dmatrix_predict(self, features: Array, **kind: bool) -> Array:
        import xgboost

        matrix = xgboost.DMatrix(
            features,
            missing=self.missing,
            nthread=self.nthread,
            feature_names=self.booster.feature_names,
            feature_types=self.booster.feature_types,
        )
        return np.asarray(
            self.booster.predict(matrix, iteration_range=self.iteration_range, **kind)
        )

    def run(self, output: str, features: Array, memo: dict[str, Array] | None = None) -> Array:
        """The array for one output name (one of ``ModelInfo.outputs``).

        Pass the same ``memo`` for every output of one request so that shared predictions
        are computed once.
        """
        memo = {} if memo is None else memo
        if output == "predict":
            return self.predict(features, memo)
        if output == "predict_proba":
            return self.predict_proba(features, memo)
        if output == "predict_raw":
            return self._inplace(features, "margin", memo)
        if output == "predict_contrib":
            return self._dmatrix_predict(features, pred_contribs=True)
        if output == "predict_leaf":
            # Leaf indices come back as float32; they are node ids.
            return self._dmatrix_predict(features, pred_leaf=True).astype(np.int32)
        raise ValueError(f"unknown output {output!r}")

    def predict(self, features: Array, memo: dict[str, Array]) -> Array:
        """Class labels for classifiers (as ``XGBClassifier.predict``), values otherwise."""
        info = self.info
        if info.kind == "binary":
            if info.objective == "binary:logitraw":
                return (self._inplace(features, "margin", memo) > 0).astype(np.int64)
            # binary:logistic gives P(class 1); binary:hinge gives 0/1 already.
            return (self._inplace(features, "value", memo) > 0.5).astype(np.int64)
        if info.kind == "multiclass":
            if info.objective == "multi:softmax":
                return self._inplace(features, "value", memo).astype(np.int64)
            labels = np.argmax(self._inplace(features, "value", memo), axis=1)
            return np.asarray(labels, dtype=np.int64)
        return self._inplace(features, "value", memo)

    def predict_proba(self, features: Array, memo: dict[str, Array]) -> Array:
        """One probability column per class (as ``XGBClassifier.predict_proba``)."""
        info = self.info
        if info.kind == "binary":
            if info.objective == "binary:logitraw":
                margin = self._inplace(features, "margin", memo)
                positive = (1.0 / (1.0 + np.exp(-margin))).astype(np.float32)
            else:
                positive = self._inplace(features, "value", memo)
            return np.column_stack([1.0 - positive, positive])
        if info.objective == "multi:softmax":
            # softmax's value is the winning class: probabilities come from the margins.
            margin = self._inplace(features, "margin", memo)
            shifted = np.exp(margin - margin.max(axis=1, keepdims=True))
            return np.asarray(shifted / shifted.sum(axis=1, keepdims=True))
        return self._inplace(features, "value", memo)
