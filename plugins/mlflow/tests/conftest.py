"""Real MLflow models saved once per session, a real tracking store and registry (sqlite in a
temporary folder), and a helper that loads a model through the runtime as the kernel does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from mlflow_support import LoadRuntime, Saved, Tracking, save_scaler

from kernel import ModelParameters, ModelSettings
from kernel_mlflow import MLflowRuntime

mlflow = pytest.importorskip("mlflow")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Saved:
    import mlflow.sklearn
    from mlflow.models import infer_signature
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LinearRegression, LogisticRegression

    root = tmp_path_factory.mktemp("mlflow-models")
    iris = load_iris(as_frame=True)
    frame = iris.data.copy()
    frame.columns = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    target = iris.target.to_numpy()
    clf = LogisticRegression(max_iter=500).fit(frame, target)
    mlflow.sklearn.save_model(
        clf,
        str(root / "iris"),
        signature=infer_signature(frame, clf.predict(frame)),
        input_example=frame.iloc[:2],
        pip_requirements=["scikit-learn"],
    )
    save_scaler(root / "scaler", root / "code")
    save_scaler(root / "scaler-dict", root / "code", returns="dict")

    import mlflow.xgboost
    import xgboost as xgb

    booster = xgb.XGBClassifier(n_estimators=4, max_depth=2).fit(frame, target)
    mlflow.xgboost.save_model(
        booster,
        str(root / "xgb"),
        signature=infer_signature(frame, booster.predict(frame)),
        pip_requirements=["xgboost"],
    )
    reg = LinearRegression().fit(frame.to_numpy(), frame["petal_width"].to_numpy())
    mlflow.sklearn.save_model(reg, str(root / "nosig"), pip_requirements=["scikit-learn"])
    return Saved(
        root,
        frame,
        root / "iris",
        root / "scaler",
        root / "scaler-dict",
        root / "xgb",
        root / "nosig",
        clf,
        booster,
    )


@pytest.fixture(scope="session")
def tracking(saved: Saved, tmp_path_factory: pytest.TempPathFactory) -> Tracking:
    """A sqlite tracking store and registry: one run logging the iris classifier, registered
    as ``iris-clf`` version 1 with the alias ``champion``."""
    import mlflow.sklearn
    from mlflow.models import infer_signature

    folder = tmp_path_factory.mktemp("tracking")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    experiment = client.create_experiment("kernel", artifact_location=(folder / "art").as_uri())
    # Logging goes through MLflow's process-wide URI; put it back at once, so the runtime
    # under test finds the store only through what the tests give it.
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    try:
        with mlflow.start_run(experiment_id=experiment) as run:
            mlflow.sklearn.log_model(
                saved.estimator,
                name="model",
                signature=infer_signature(saved.frame, saved.estimator.predict(saved.frame)),
                pip_requirements=["scikit-learn"],
                registered_model_name="iris-clf",
            )
    finally:
        mlflow.set_tracking_uri(previous)
    client.set_registered_model_alias("iris-clf", "champion", "1")
    return Tracking(uri, run.info.run_id, "iris-clf")


@pytest.fixture
def load_runtime() -> LoadRuntime:
    """``await load_runtime(path_or_uri, extra=None, **settings_fields)``."""

    async def load(
        where: Path | str, extra: dict[str, Any] | None = None, **fields: Any
    ) -> MLflowRuntime:
        path, uri = (str(where), None) if isinstance(where, Path) else (".", where)
        settings = ModelSettings(
            name=fields.pop("name", "m"),
            implementation="mlflow",
            path=path,
            parameters=ModelParameters(uri=uri, extra=extra or {}),
            **fields,
        )
        runtime = MLflowRuntime(settings)
        await runtime.load()
        return runtime

    return load
