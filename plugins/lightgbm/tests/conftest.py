"""Real LightGBM models trained once per session (binary, multi-class, regression, ranking,
and scikit-learn wrappers), and a helper that loads one through the runtime exactly as the
kernel does (settings in, ``await load()``)."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pytest
from lightgbm_support import FEATURES, LoadRuntime, save, settings

from kernel_lightgbm import LightGBMRuntime

PARAMS: dict[str, Any] = {
    "verbose": -1,
    "num_leaves": 7,
    "min_data_in_leaf": 5,
    "seed": 1,
    "deterministic": True,
}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def data() -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """300 rows of 5 features, and a continuous target the labelled tasks are cut from."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 5))
    target = x[:, 0] + 0.5 * x[:, 1] - x[:, 2] * x[:, 3] + 0.1 * rng.normal(size=300)
    return x, target


def _train(params: dict[str, Any], dataset: lgb.Dataset, rounds: int = 12) -> lgb.Booster:
    return lgb.train({**PARAMS, **params}, dataset, num_boost_round=rounds)


@pytest.fixture(scope="session")
def binary(data: tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]) -> lgb.Booster:
    """A binary classifier with named features."""
    x, target = data
    return _train({"objective": "binary"}, lgb.Dataset(x, target > 0, feature_name=FEATURES))


@pytest.fixture(scope="session")
def multiclass(data: tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]) -> lgb.Booster:
    """Three classes, no feature names (LightGBM's generated ``Column_<i>``)."""
    x, target = data
    labels = np.digitize(target, [-0.5, 0.5])
    return _train({"objective": "multiclass", "num_class": 3}, lgb.Dataset(x, labels))


@pytest.fixture(scope="session")
def regression(data: tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]) -> lgb.Booster:
    x, target = data
    return _train({"objective": "regression"}, lgb.Dataset(x, target))


@pytest.fixture(scope="session")
def poisson(data: tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]) -> lgb.Booster:
    """A regressor whose prediction is ``exp`` of its raw score: ``predict_raw`` differs."""
    x, target = data
    counts = np.floor(np.exp(target / 2))
    return _train({"objective": "poisson"}, lgb.Dataset(x, counts))


@pytest.fixture(scope="session")
def ranker(data: tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]) -> lgb.Booster:
    """lambdarank over 30 queries of 10 documents, relevance 0-3."""
    x, target = data
    relevance = np.digitize(target, [-1.0, 0.0, 1.0])
    return _train({"objective": "lambdarank"}, lgb.Dataset(x, relevance, group=[10] * 30))


@pytest.fixture(scope="session")
def classifier(data: tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]) -> lgb.LGBMClassifier:
    """A scikit-learn wrapper with string labels (``predict`` answers BYTES)."""
    x, target = data
    labels = np.array(["low", "mid", "high"])[np.digitize(target, [-0.5, 0.5])]
    return lgb.LGBMClassifier(n_estimators=10, **PARAMS).fit(x, labels)


@pytest.fixture(scope="session")
def binary_classifier(
    data: tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]],
) -> lgb.LGBMClassifier:
    """A binary wrapper whose classes are not 0/1."""
    x, target = data
    labels = np.where(target > 0, 7, 3)
    return lgb.LGBMClassifier(n_estimators=10, **PARAMS).fit(x, labels)


@pytest.fixture(scope="session")
def regressor(data: tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]) -> lgb.LGBMRegressor:
    x, target = data
    return lgb.LGBMRegressor(n_estimators=10, **PARAMS).fit(x, target)


@pytest.fixture(scope="session")
def sk_ranker(data: tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]) -> lgb.LGBMRanker:
    x, target = data
    relevance = np.digitize(target, [-1.0, 0.0, 1.0])
    return lgb.LGBMRanker(n_estimators=10, **PARAMS).fit(x, relevance, group=[10] * 30)


@pytest.fixture
def load_runtime(tmp_path: Path) -> LoadRuntime:
    """``await load_runtime(model, file="model.txt", uri=None, extra=None, **settings)``."""

    folders = itertools.count()

    async def load(
        model: Any, file: str = "model.txt", uri: str | None = None, **fields: Any
    ) -> LightGBMRuntime:
        folder = tmp_path / f"model-{next(folders)}"
        save(model, folder / file)
        runtime = LightGBMRuntime(settings(folder, uri, **fields))
        await runtime.load()
        return runtime

    return load
