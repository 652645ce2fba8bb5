"""Outputs a native flavour offers beyond pyfunc's ``predict``.

pyfunc gives one answer per model (labels, for a classifier). The frameworks themselves give
more: class probabilities, margins, SHAP contributions, leaf indices. When the model folder also
has a scikit-learn, XGBoost, LightGBM or CatBoost flavour, the model is loaded through that
flavour too and these become outputs a request names in ``outputs``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["NATIVE_FLAVOURS", "Native", "load_native"]

#: Flavours whose models offer extra outputs, in the order they are tried.
NATIVE_FLAVOURS = ("sklearn", "xgboost", "lightgbm", "catboost")

#: Methods of scikit-learn-style estimators (all four frameworks have such wrappers).
_METHODS = ("predict_proba", "predict_log_proba", "decision_function")

Call = Callable[[Any], Any]


@dataclass(slots=True)
class Native:
    """A model loaded through its native flavour, and the outputs it adds, by name."""

    flavour: str
    model: Any
    calls: dict[str, Call] = field(default_factory=dict)

    def run(self, name: str, data: Any) -> np.ndarray[Any, Any]:
        """Output ``name`` for ``data`` (the input after MLflow's schema enforcement)."""
        return np.asarray(self.calls[name](data))


def _method_calls(model: Any) -> dict[str, Call]:
    calls: dict[str, Call] = {}
    for method in _METHODS:
        try:
            bound = getattr(model, method)  # SVC(probability=False).predict_proba raises
        except AttributeError:
            continue
        calls[method] = bound
    return calls


def _xgboost_booster(booster: Any) -> dict[str, Call]:
    import xgboost as xgb

    def run(**options: Any) -> Call:
        return lambda data: booster.predict(xgb.DMatrix(data), **options)

    return {
        "predict_raw": run(output_margin=True),
        "predict_contrib": run(pred_contribs=True),
        "predict_leaf": run(pred_leaf=True),
    }


def _lightgbm_booster(booster: Any) -> dict[str, Call]:
    def run(**options: Any) -> Call:
        return lambda data: booster.predict(data, **options)

    return {
        "predict_raw": run(raw_score=True),
        "predict_contrib": run(pred_contrib=True),
        "predict_leaf": run(pred_leaf=True),
    }


def _calls(flavour: str, model: Any) -> dict[str, Call]:
    module = type(model).__module__.split(".")[0]
    kind = type(model).__name__
    if flavour == "xgboost" and module == "xgboost" and kind == "Booster":
        return _xgboost_booster(model)
    if flavour == "lightgbm" and module == "lightgbm" and kind == "Booster":
        return _lightgbm_booster(model)
    return _method_calls(model)


def load_native(path: str, flavours: dict[str, Any]) -> Native | None:
    """The model loaded through the first native flavour in ``flavours`` that adds outputs;
    ``None`` when there is none (a custom ``PythonModel``, say)."""
    for flavour in NATIVE_FLAVOURS:
        if flavour not in flavours:
            continue
        module = importlib.import_module(f"mlflow.{flavour}")
        model = module.load_model(path)
        calls = _calls(flavour, model)
        if calls:
            return Native(flavour, model, calls)
    return None
