"""Real CatBoost models of every kind, trained once per session, and a helper that loads one
through the runtime exactly as the kernel does (settings in, ``await load()``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from catboost import CatBoostClassifier, CatBoostRanker, CatBoostRegressor, Pool
from catboost_support import TRAIN, LoadRuntime, Trained, save

from kernel import ModelParameters, ModelSettings
from kernel_catboost import CatBoostRuntime

ROWS = 200


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def numbers() -> np.ndarray[Any, Any]:
    return np.random.default_rng(0).normal(size=(ROWS, 4))


@pytest.fixture(scope="session")
def binary(numbers: np.ndarray[Any, Any]) -> Trained:
    """Two string labels: ``predict`` answers ``BYTES``."""
    labels = np.where(numbers[:, 0] + numbers[:, 1] > 0, "yes", "no")
    model = CatBoostClassifier(**TRAIN).fit(numbers, labels)
    return Trained(model, Pool(numbers, labels), numbers[:7])


@pytest.fixture(scope="session")
def multiclass(numbers: np.ndarray[Any, Any]) -> Trained:
    """Three integer classes: ``predict`` answers ``INT64``."""
    labels = (numbers[:, 0] > 0).astype(np.int64) + (numbers[:, 2] > 0.5)
    model = CatBoostClassifier(**TRAIN).fit(numbers, labels)
    return Trained(model, Pool(numbers, labels), numbers[:7])


@pytest.fixture(scope="session")
def regressor(numbers: np.ndarray[Any, Any]) -> Trained:
    target = 2 * numbers[:, 0] - numbers[:, 3]
    model = CatBoostRegressor(**TRAIN).fit(numbers, target)
    return Trained(model, Pool(numbers, target), numbers[:7])


@pytest.fixture(scope="session")
def poisson(numbers: np.ndarray[Any, Any]) -> Trained:
    """``predict`` is the exponent of the raw value, as ``CatBoostRegressor.predict`` gives."""
    counts = np.random.default_rng(1).poisson(np.exp(numbers[:, 0] / 2))
    model = CatBoostRegressor(loss_function="Poisson", **TRAIN).fit(numbers, counts)
    return Trained(model, Pool(numbers, counts), numbers[:7])


@pytest.fixture(scope="session")
def uncertainty(numbers: np.ndarray[Any, Any]) -> Trained:
    """``predict`` is two columns: the mean and the data uncertainty."""
    target = numbers[:, 0] + np.random.default_rng(4).normal(size=ROWS) * np.abs(numbers[:, 1])
    model = CatBoostRegressor(loss_function="RMSEWithUncertainty", **TRAIN).fit(numbers, target)
    return Trained(model, Pool(numbers, target), numbers[:7])


@pytest.fixture(scope="session")
def multitarget(numbers: np.ndarray[Any, Any]) -> Trained:
    targets = np.c_[numbers[:, 0], numbers[:, 1] - numbers[:, 2]]
    model = CatBoostRegressor(loss_function="MultiRMSE", **TRAIN).fit(numbers, targets)
    return Trained(model, Pool(numbers, targets), numbers[:7])


@pytest.fixture(scope="session")
def multilabel(numbers: np.ndarray[Any, Any]) -> Trained:
    labels = np.c_[numbers[:, 0] > 0, numbers[:, 1] > 0, numbers[:, 2] > 1].astype(np.int64)
    model = CatBoostClassifier(loss_function="MultiLogloss", **TRAIN).fit(numbers, labels)
    return Trained(model, Pool(numbers, labels), numbers[:7])


def _ranker(numbers: np.ndarray[Any, Any], loss: str) -> Trained:
    groups = np.repeat(np.arange(ROWS // 10), 10)
    relevance = np.clip(np.round(numbers[:, 1] + 1), 0, 3)
    model = CatBoostRanker(loss_function=loss, **TRAIN).fit(numbers, relevance, group_id=groups)
    return Trained(model, Pool(numbers, relevance, group_id=groups), numbers[:7])


@pytest.fixture(scope="session")
def yetirank(numbers: np.ndarray[Any, Any]) -> Trained:
    return _ranker(numbers, "YetiRank")


@pytest.fixture(scope="session")
def queryrmse(numbers: np.ndarray[Any, Any]) -> Trained:
    return _ranker(numbers, "QueryRMSE")


@pytest.fixture(scope="session")
def frame() -> pd.DataFrame:
    """Loan applications: numbers, two categorical columns and a free-text note."""
    rng = np.random.default_rng(2)
    return pd.DataFrame(
        {
            "age": rng.integers(18, 80, ROWS).astype(np.float64),
            "city": rng.choice(["oslo", "rome", "lima", "kyiv"], ROWS),
            "income": rng.normal(50.0, 10.0, ROWS),
            "plan": rng.choice(["basic", "plus", "pro"], ROWS),
        }
    )


@pytest.fixture(scope="session")
def categorical(frame: pd.DataFrame) -> Trained:
    """Trained on a DataFrame with categorical columns, as CatBoost users do."""
    approved = ((frame["city"] == "rome") | (frame["income"] > 55)).map({True: "yes", False: "no"})
    cats = ["city", "plan"]
    model = CatBoostClassifier(cat_features=cats, **TRAIN).fit(frame, approved)
    return Trained(model, Pool(frame, approved, cat_features=cats), frame.iloc[:7])


@pytest.fixture(scope="session")
def text(frame: pd.DataFrame) -> Trained:
    """A regressor with a categorical and a text feature (text models save as .cbm only)."""
    rng = np.random.default_rng(3)
    data = frame.assign(note=rng.choice(["good pay", "bad boss", "long hours good team"], ROWS))
    target = data["income"] + (data["note"].str.contains("good")) * 10.0
    model = CatBoostRegressor(cat_features=["city", "plan"], text_features=["note"], **TRAIN)
    model.fit(data, target)
    pool = Pool(data, target, cat_features=["city", "plan"], text_features=["note"])
    return Trained(model, pool, data.iloc[:7])


@pytest.fixture
def load_runtime(tmp_path: Path) -> LoadRuntime:
    """``await load_runtime(trained, fmt="cbm", file=None, uri=None, extra=None, **settings)``."""

    async def load(
        trained: Trained,
        fmt: str = "cbm",
        file: str | None = None,
        uri: str | None = None,
        extra: dict[str, Any] | None = None,
        **fields: Any,
    ) -> CatBoostRuntime:
        folder = tmp_path / "model"
        save(trained, folder / (file or f"model.{fmt}"), fmt)
        settings = ModelSettings(
            name=fields.pop("name", "m"),
            implementation="catboost",
            path=str(folder),
            parameters=ModelParameters(uri=uri, version="3", extra=extra or {}),
            **fields,
        )
        runtime = CatBoostRuntime(settings)
        await runtime.load()
        return runtime

    return load
