"""What a booster is, read from its saved configuration: the objective decides the model kind
(classifier, regressor, ranker) and so which outputs make sense; nothing is inferred by calling
the model and looking at what comes back."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

__all__ = ["OUTPUTS", "ModelInfo", "describe"]

#: Every output name the runtime knows, in the order metadata lists them.
OUTPUTS: tuple[str, ...] = (
    "predict",
    "predict_proba",
    "predict_raw",
    "predict_contrib",
    "predict_leaf",
)

# Objectives whose transformed prediction is a probability, so ``predict_proba`` exists.
_BINARY_PROBABILITY = ("binary:logistic", "binary:logitraw")
_BINARY = (*_BINARY_PROBABILITY, "binary:hinge")
_MULTI = ("multi:softmax", "multi:softprob")


@dataclass(frozen=True)
class ModelInfo:
    """A booster's kind and shape, from its saved configuration."""

    objective: str
    kind: str  # "binary", "multiclass", "regressor" or "ranker"
    n_features: int
    n_classes: int  # 2 for binary classifiers, 0 for regressors and rankers
    n_targets: int  # regressors' output columns (multi-target, multi-quantile)
    booster_type: str  # "gbtree", "dart" or "gblinear"
    feature_names: tuple[str, ...] | None
    best_iteration: int | None

    @property
    def is_classifier(self) -> bool:
        return self.kind in ("binary", "multiclass")

    @property
    def outputs(self) -> tuple[str, ...]:
        """The outputs this model can produce, in ``OUTPUTS`` order."""
        names = ["predict"]
        if self.objective in _BINARY_PROBABILITY or self.kind == "multiclass":
            names.append("predict_proba")
        names += ["predict_raw", "predict_contrib"]
        if self.booster_type != "gblinear":  # a linear booster has no leaves
            names.append("predict_leaf")
        return tuple(names)


def _param(config: dict[str, Any], key: str) -> int:
    value = config["learner"]["learner_model_param"].get(key, "0")
    return int(value) if str(value).strip() else 0


def describe(booster: Any) -> ModelInfo:
    """The ``ModelInfo`` of a loaded ``xgboost.Booster``."""
    config = json.loads(booster.save_config())
    learner = config["learner"]
    objective = str(learner["objective"]["name"])
    num_class = _param(config, "num_class")
    num_target = max(_param(config, "num_target"), 1)
    if objective in _BINARY:
        kind, n_classes = "binary", 2
    elif objective in _MULTI:
        kind, n_classes = "multiclass", num_class
    elif objective.startswith("rank:"):
        kind, n_classes = "ranker", 0
    else:
        # reg:*, count:poisson, survival:*, and custom objectives (saved as reg:squarederror).
        kind, n_classes = "regressor", 0
    names = booster.feature_names
    best = booster.attr("best_iteration")
    return ModelInfo(
        objective=objective,
        kind=kind,
        n_features=int(booster.num_features()),
        n_classes=n_classes,
        n_targets=num_target,
        booster_type=str(learner["gradient_booster"]["name"]),
        feature_names=tuple(names) if names else None,
        best_iteration=int(best) if best is not None else None,
    )
