"""The MLflow runtime through a real ``kernel serve``: models saved and registered by MLflow here
(a scikit-learn classifier with signature and input example, a custom ``PythonModel`` with
params, an XGBoost classifier, a model without signature, and a registered model served from a
sqlite tracking store by alias), every answer compared with ``mlflow.pyfunc.load_model(...)
.predict`` and the flavour's own calls on the same rows, over V2 REST and gRPC with
tritonclient and over MLflow's ``/invocations``. The repository's example is run as a user
runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from e2e_server import Server, serve
from tritonclient.utils import InferenceServerException

mlflow = pytest.importorskip("mlflow")
pytest.importorskip("kernel_mlflow")
xgb = pytest.importorskip("xgboost")

pytestmark = pytest.mark.e2e

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
COLUMNS = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
ROWS = [0, 60, 120, 70, 133]

SCALER_CODE = """
import mlflow
import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel


class Scaler(PythonModel):
    def predict(self, context, model_input, params=None):
        params = params or {}
        x = np.asarray(model_input["x"], dtype=np.float64) * float(params.get("factor", 1.0))
        prefix = str(params.get("prefix", "row"))
        return pd.DataFrame({"scaled": x, "label": [f"{prefix}-{i}" for i in range(len(x))]})


mlflow.models.set_model(Scaler())
"""


@dataclass
class Models:
    root: Path
    frame: pd.DataFrame  # the rows every test sends
    clf: Any  # LogisticRegression behind "iris" and the registered "champion"
    booster: Any  # XGBClassifier behind "xgb"
    paths: dict[str, Path]  # model name -> the MLflow model folder


def _settings(folder: Path, uri: str, **extra: Any) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    settings = {"implementation": "mlflow", "parameters": {"uri": uri, "extra": extra}}
    (folder / "model-settings.json").write_text(json.dumps(settings))


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Models:
    import mlflow.pyfunc
    import mlflow.sklearn
    import mlflow.xgboost
    from mlflow.models import infer_signature
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LinearRegression, LogisticRegression

    root = tmp_path_factory.mktemp("mlflow-repo")
    # The repository's example, trained as a user trains it, served by the same server; it runs
    # while the models below are saved.
    trainer = subprocess.Popen(
        [sys.executable, str(EXAMPLES / "mlflow" / "train.py"), str(root / "wine")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    iris = load_iris(as_frame=True)
    frame = iris.data.set_axis(COLUMNS, axis=1)
    target = iris.target.to_numpy()
    clf = LogisticRegression(max_iter=500).fit(frame, target)
    signature = infer_signature(frame, clf.predict(frame))
    paths = {name: root / name / "model" for name in ("iris", "scaler", "xgb", "nosig")}

    mlflow.sklearn.save_model(
        clf,
        str(paths["iris"]),
        signature=signature,
        input_example=frame.iloc[:2],
        pip_requirements=["scikit-learn"],
    )
    _settings(root / "iris", "model", default_invocations=True)

    code = root / "scaler_model.py"
    code.write_text(SCALER_CODE)
    example = pd.DataFrame({"x": [1.0, 2.5]})
    mlflow.pyfunc.save_model(
        str(paths["scaler"]),
        python_model=str(code),
        signature=infer_signature(
            example,
            pd.DataFrame({"scaled": [1.0], "label": ["row-0"]}),
            params={"factor": 1.0, "prefix": "row"},
        ),
        input_example=example,
        pip_requirements=["pandas"],
    )
    _settings(root / "scaler", "model")

    booster = xgb.XGBClassifier(n_estimators=5, max_depth=2).fit(frame, target)
    mlflow.xgboost.save_model(
        booster,
        str(paths["xgb"]),
        signature=infer_signature(frame, booster.predict(frame)),
        pip_requirements=["xgboost"],
    )
    _settings(root / "xgb", "model")

    reg = LinearRegression().fit(frame.to_numpy(), target)
    mlflow.sklearn.save_model(reg, str(paths["nosig"]), pip_requirements=["scikit-learn"])
    _settings(root / "nosig", "model")

    # A real tracking store and registry: the classifier logged in a run, registered, aliased.
    store = tmp_path_factory.mktemp("mlflow-tracking")
    uri = f"sqlite:///{store / 'mlflow.db'}"
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    experiment = client.create_experiment("e2e", artifact_location=(store / "art").as_uri())
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    try:
        with mlflow.start_run(experiment_id=experiment):
            mlflow.sklearn.log_model(
                clf,
                name="model",
                signature=signature,
                pip_requirements=["scikit-learn"],
                registered_model_name="iris-clf",
            )
    finally:
        mlflow.set_tracking_uri(previous)
    client.set_registered_model_alias("iris-clf", "champion", "1")
    _settings(root / "champion", "models:/iris-clf@champion", tracking_uri=uri)
    output, _ = trainer.communicate(timeout=300)
    assert trainer.returncode == 0, output.decode(errors="replace")
    paths["wine"] = root / "wine" / "model"
    return Models(root, frame.iloc[ROWS].reset_index(drop=True), clf, booster, paths)


@pytest.fixture(scope="module")
def server(models: Models, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serve(models.root, tmp_path_factory.mktemp("mlflow-logs")) as running:
        yield running


def _pyfunc(models: Models, name: str) -> Any:
    return mlflow.pyfunc.load_model(str(models.paths[name]))


def _http_columns(frame: pd.DataFrame, binary: bool) -> list[httpclient.InferInput]:
    inputs = []
    for column in frame.columns:
        inp = httpclient.InferInput(str(column), [len(frame)], "FP64")
        inp.set_data_from_numpy(frame[column].to_numpy(np.float64), binary_data=binary)
        inputs.append(inp)
    return inputs


def _grpc_columns(frame: pd.DataFrame) -> list[grpcclient.InferInput]:
    inputs = []
    for column in frame.columns:
        inp = grpcclient.InferInput(str(column), [len(frame)], "FP64")
        inp.set_data_from_numpy(frame[column].to_numpy(np.float64))
        inputs.append(inp)
    return inputs


@pytest.mark.parametrize("binary", [False, True])
def test_rest_like_pyfunc_and_sklearn(server: Server, models: Models, binary: bool) -> None:
    client = httpclient.InferenceServerClient(server.http_address)
    try:
        for name in ("iris", "champion"):
            wanted = [
                httpclient.InferRequestedOutput(n, binary_data=binary)
                for n in ("predict", "predict_proba")
            ]
            result = client.infer(name, _http_columns(models.frame, binary), outputs=wanted)
            expected = _pyfunc(models, "iris").predict(models.frame)
            assert np.array_equal(result.as_numpy("predict"), expected)
            np.testing.assert_allclose(
                result.as_numpy("predict_proba"), models.clf.predict_proba(models.frame)
            )
        metadata = client.get_model_metadata("iris")
        assert [(i["name"], i["datatype"]) for i in metadata["inputs"]] == [
            (c, "FP64") for c in COLUMNS
        ]
        outputs = {o["name"]: o["shape"] for o in metadata["outputs"]}
        assert outputs["predict"] == [-1]
        assert outputs["predict_proba"] == [-1, 3]
    finally:
        client.close()


def test_grpc_like_pyfunc_and_xgboost(server: Server, models: Models) -> None:
    client = grpcclient.InferenceServerClient(server.grpc_address)
    try:
        wanted = [grpcclient.InferRequestedOutput(n) for n in ("predict", "predict_proba")]
        result = client.infer("xgb", _grpc_columns(models.frame), outputs=wanted)
        assert np.array_equal(
            result.as_numpy("predict"), _pyfunc(models, "xgb").predict(models.frame)
        )
        np.testing.assert_allclose(
            result.as_numpy("predict_proba"), models.booster.predict_proba(models.frame), rtol=1e-6
        )
        iris = client.infer("iris", _grpc_columns(models.frame))
        assert np.array_equal(iris.as_numpy("predict"), models.clf.predict(models.frame))
    finally:
        client.close()


def test_params_over_rest_and_grpc(server: Server, models: Models) -> None:
    x = np.array([1.0, 2.0, 4.0])
    params = {"factor": 2.5, "prefix": "id"}
    expected = _pyfunc(models, "scaler").predict(pd.DataFrame({"x": x}), params=params)
    http = httpclient.InferenceServerClient(server.http_address)
    grpc = grpcclient.InferenceServerClient(server.grpc_address)
    try:
        inp = httpclient.InferInput("x", [3], "FP64")
        inp.set_data_from_numpy(x)
        rest = http.infer("scaler", [inp], parameters=params)
        ginp = grpcclient.InferInput("x", [3], "FP64")
        ginp.set_data_from_numpy(x)
        over_grpc = grpc.infer("scaler", [ginp], parameters=params)
        for result in (rest, over_grpc):
            np.testing.assert_allclose(result.as_numpy("scaled"), expected["scaled"])
            labels = [v.decode() for v in result.as_numpy("label").reshape(-1)]
            assert labels == list(expected["label"]) == ["id-0", "id-1", "id-2"]
        with pytest.raises(InferenceServerException, match="factor"):
            http.infer("scaler", [inp], parameters={"factor": "lots"})
    finally:
        http.close()
        grpc.close()


def test_model_without_signature(server: Server, models: Models) -> None:
    rows = models.frame.to_numpy()
    body = {
        "inputs": [
            {
                "name": "x",
                "shape": list(rows.shape),
                "datatype": "FP64",
                "data": rows.reshape(-1).tolist(),
            }
        ]
    }
    answer = httpx.post(f"{server.http_url}/v2/models/nosig/infer", json=body, timeout=30)
    assert answer.status_code == 200, answer.text
    output = answer.json()["outputs"][0]
    assert output["name"] == "predict"
    np.testing.assert_allclose(output["data"], _pyfunc(models, "nosig").predict(rows))


def test_input_failing_the_signature_is_400(server: Server, models: Models) -> None:
    body = {"inputs": [{"name": "sepal_length", "shape": [1], "datatype": "FP64", "data": [5.0]}]}
    answer = httpx.post(f"{server.http_url}/v2/models/iris/infer", json=body, timeout=30)
    assert answer.status_code == 400
    assert "missing inputs" in answer.json()["error"]


def test_invocations(server: Server, models: Models) -> None:
    split = {"dataframe_split": models.frame.to_dict(orient="split")}
    expected = _pyfunc(models, "iris").predict(models.frame).tolist()
    with httpx.Client(base_url=server.http_url, timeout=30) as client:
        for path in (
            "/invocations",
            "/v2/models/iris/invocations",
            "/v2/models/champion/invocations",
        ):
            answer = client.post(path, json=split)
            assert answer.status_code == 200, answer.text
            assert answer.json() == {"predictions": expected}
        csv = client.post(
            "/invocations",
            content=models.frame.to_csv(index=False),
            headers={"Content-Type": "text/csv"},
        )
        assert csv.json() == {"predictions": expected}
        x = pd.DataFrame({"x": [1.0, 3.0]})
        scaled = client.post(
            "/v2/models/scaler/invocations",
            json={"dataframe_records": x.to_dict(orient="records"), "params": {"factor": 3.0}},
        )
        want = _pyfunc(models, "scaler").predict(x, params={"factor": 3.0})
        assert scaled.json() == {"predictions": want.to_dict(orient="records")}
        assert client.get("/ping").status_code == 200
        assert client.get("/version").text == mlflow.__version__


def test_example_end_to_end(server: Server, models: Models) -> None:
    """examples/mlflow as a user runs it: train.py's model served, request.json and
    invocations.json sent as they are."""
    pyfunc = _pyfunc(models, "wine")
    native = mlflow.sklearn.load_model(str(models.paths["wine"]))
    invocations = json.loads((EXAMPLES / "mlflow" / "invocations.json").read_text())
    rows = pd.DataFrame(**invocations["dataframe_split"])
    v2 = httpx.post(
        f"{server.http_url}/v2/models/wine/infer",
        content=(EXAMPLES / "mlflow" / "request.json").read_bytes(),
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    scored = httpx.post(f"{server.http_url}/v2/models/wine/invocations", json=invocations)
    assert v2.status_code == 200, v2.text
    assert v2.json()["id"] == "wine-example"
    outputs = {o["name"]: o for o in v2.json()["outputs"]}
    assert outputs["predict"]["data"] == pyfunc.predict(rows).tolist() == [0, 1, 2]
    got = np.asarray(outputs["predict_proba"]["data"]).reshape(outputs["predict_proba"]["shape"])
    np.testing.assert_allclose(got, native.predict_proba(rows))
    assert scored.json() == {"predictions": [0, 1, 2]}
