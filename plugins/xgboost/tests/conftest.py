"""Real XGBoost models trained once per session (binary, multi-class, regression, ranking), and
a helper that saves one and loads it through the runtime exactly as the kernel does."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xgboost as xgb
from xgboost_support import LoadRuntime, save

from kernel import ModelParameters, ModelSettings
from kernel_xgboost import XGBoostRuntime

FEATURES = ["age", "income", "tenure", "visits", "score"]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def data() -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """400 rows of 5 features, a few missing, and a continuous target."""
    rng = np.random.default_rng(7)
    x = rng.normal(size=(400, 5))
    x[rng.random(x.shape) < 0.05] = np.nan
    y = 2 * np.nan_to_num(x[:, 0]) - np.nan_to_num(x[:, 1]) + 0.3 * rng.normal(size=400)
    return x, y


@pytest.fixture(scope="session")
def binary(data: tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]) -> xgb.Booster:
    """A native ``Booster`` (binary:logistic) trained with feature names."""
    x, y = data
    matrix = xgb.DMatrix(x, label=(y > 0).astype(int), feature_names=FEATURES)
    return xgb.train({"objective": "binary:logistic", "max_depth": 3}, matrix, 8)


@pytest.fixture(scope="session")
def multiclass(data: tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]) -> xgb.XGBClassifier:
    """The scikit-learn wrapper, three classes (multi:softprob)."""
    x, y = data
    labels = np.digitize(y, [-1.0, 1.0])
    return xgb.XGBClassifier(n_estimators=6, max_depth=3).fit(x, labels)


@pytest.fixture(scope="session")
def softmax(data: tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]) -> xgb.Booster:
    """A native multi:softmax booster: its value is the class, not probabilities."""
    x, y = data
    matrix = xgb.DMatrix(x, label=np.digitize(y, [-1.0, 1.0]))
    params = {"objective": "multi:softmax", "num_class": 3, "max_depth": 2}
    return xgb.train(params, matrix, 5)


@pytest.fixture(scope="session")
def regressor(data: tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]) -> xgb.XGBRegressor:
    """A wrapper regressor trained with early stopping: it predicts with its best iteration."""
    x, y = data
    model = xgb.XGBRegressor(n_estimators=200, learning_rate=0.5, early_stopping_rounds=3)
    model.fit(x[:300], y[:300], eval_set=[(x[300:], y[300:])], verbose=False)
    assert model.best_iteration < 199  # early stopping really cut the trees short
    return model


@pytest.fixture(scope="session")
def ranker(data: tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]) -> xgb.XGBRanker:
    x, y = data
    relevance = np.digitize(y, [-1.0, 0.0, 1.0])
    groups = np.repeat(np.arange(40), 10)
    return xgb.XGBRanker(n_estimators=5, max_depth=3).fit(x, relevance, qid=groups)


@pytest.fixture
def load_runtime(tmp_path: Path) -> LoadRuntime:
    """``await load_runtime(model, file="model.json", uri=None, extra=None, **settings)``."""

    async def load(
        model: Any,
        file: str = "model.json",
        uri: str | None = None,
        extra: dict[str, Any] | None = None,
        **fields: Any,
    ) -> XGBoostRuntime:
        folder = tmp_path / "model"
        with warnings.catch_warnings():
            # XGBoost warns that .bst/.model files are written as UBJSON: that is the point.
            warnings.simplefilter("ignore", UserWarning)
            save(model, folder / file)
        settings = ModelSettings(
            name=fields.pop("name", "m"),
            implementation="xgboost",
            path=str(folder),
            parameters=ModelParameters(uri=uri, version="2", extra=extra or {}),
            **fields,
        )
        runtime = XGBoostRuntime(settings)
        await runtime.load()
        return runtime

    return load
