"""Real scikit-learn models trained once per session, and a helper that loads one through the
runtime exactly as the kernel does (settings in, ``await load()``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from sklearn_support import LoadRuntime, save

from kernel import ModelParameters, ModelSettings
from kernel_sklearn import SKLearnRuntime


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def iris() -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    data = load_iris()
    return data.data, data.target


@pytest.fixture(scope="session")
def logistic(iris: tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]) -> LogisticRegression:
    x, y = iris
    return LogisticRegression(max_iter=500).fit(x, y)


@pytest.fixture(scope="session")
def string_labels(iris: tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]) -> LogisticRegression:
    x, y = iris
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    return LogisticRegression(max_iter=500).fit(x, names)


@pytest.fixture(scope="session")
def regressor(iris: tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]) -> LinearRegression:
    x, _ = iris
    # Petal width from the other three measurements.
    return LinearRegression().fit(x[:, :3], x[:, 3])


@pytest.fixture(scope="session")
def pipeline(iris: tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]) -> Pipeline:
    x, y = iris
    return Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression(max_iter=500))]).fit(
        x, y
    )


@pytest.fixture(scope="session")
def svc(iris: tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]) -> SVC:
    x, y = iris
    return SVC().fit(x, y)  # no probability=True: no predict_proba


@pytest.fixture
def load_runtime(tmp_path: Path) -> LoadRuntime:
    """``await load_runtime(estimator, file="model.joblib", uri=None, extra=None, **settings)``."""

    async def load(
        estimator: object,
        file: str = "model.joblib",
        uri: str | None = None,
        extra: dict[str, Any] | None = None,
        **fields: Any,
    ) -> SKLearnRuntime:
        folder = tmp_path / "model"
        save(estimator, folder / file)
        settings = ModelSettings(
            name=fields.pop("name", "m"),
            implementation="sklearn",
            path=str(folder),
            parameters=ModelParameters(uri=uri, version="3", extra=extra or {}),
            **fields,
        )
        runtime = SKLearnRuntime(settings)
        await runtime.load()
        return runtime

    return load
