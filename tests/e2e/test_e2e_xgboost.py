"""The XGBoost runtime through a real ``kernel serve``: models of every kind trained here, saved
in each format, named by each ``implementation`` alias, and every output compared with
XGBoost's own calls on the same rows, over REST (binary and JSON tensors) and gRPC with
tritonclient. The repository's example is run as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import joblib
import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from e2e_server import Server, serve
from tritonclient.utils import InferenceServerException

xgb = pytest.importorskip("xgboost")
pytest.importorskip("kernel_xgboost")

pytestmark = pytest.mark.e2e

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
FEATURES = ["f_a", "f_b", "f_c", "f_d"]
ALL = ["predict", "predict_proba", "predict_raw", "predict_contrib", "predict_leaf"]
NO_PROBA = ["predict", "predict_raw", "predict_contrib", "predict_leaf"]


@dataclass
class Models:
    x: np.ndarray[Any, Any]
    binary: Any  # xgb.Booster, saved as model.json
    multiclass: Any  # XGBClassifier, pickled with joblib
    regressor: Any  # XGBRegressor, saved as model.ubj
    ranker: Any  # XGBRanker, saved as model.bst (UBJSON content)


def _write(folder: Path, settings: dict[str, Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model-settings.json").write_text(json.dumps(settings))


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Models]:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(300, 4)).astype(np.float32)
    x[rng.random(x.shape) < 0.05] = np.nan
    y = np.nan_to_num(x[:, 0]) - 2 * np.nan_to_num(x[:, 2]) + 0.2 * rng.normal(size=300)
    root = tmp_path_factory.mktemp("xgb-models")

    binary = xgb.train(
        {"objective": "binary:logistic", "max_depth": 3},
        xgb.DMatrix(x, label=(y > 0).astype(int), feature_names=FEATURES),
        6,
    )
    _write(root / "churn", {"name": "churn", "implementation": "xgboost"})
    binary.save_model(str(root / "churn" / "model.json"))

    multiclass = xgb.XGBClassifier(n_estimators=5, max_depth=3).fit(x, np.digitize(y, [-1, 1]))
    _write(
        root / "tiers",
        {"name": "tiers", "implementation": "mlserver_xgboost.XGBoostModel"},
    )
    joblib.dump(multiclass, root / "tiers" / "model.joblib")

    regressor = xgb.XGBRegressor(n_estimators=8, max_depth=3).fit(x, y)
    _write(
        root / "spend",
        {
            "name": "spend",
            "implementation": "kernel_xgboost.XGBoostRuntime",
            "parameters": {"version": "1", "extra": {"nthread": 2}},
        },
    )
    regressor.save_model(str(root / "spend" / "model.ubj"))

    ranker = xgb.XGBRanker(n_estimators=4, max_depth=3).fit(
        x, np.digitize(y, [-1, 0, 1]), qid=np.repeat(np.arange(30), 10)
    )
    _write(root / "rank", {"name": "rank", "implementation": "xgboost"})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # ".bst is written as UBJSON"
        ranker.save_model(str(root / "rank" / "model.bst"))
    return root, Models(x[:16], binary, multiclass, regressor, ranker)


@pytest.fixture(scope="module")
def server(
    models: tuple[Path, Models], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    with serve(models[0], tmp_path_factory.mktemp("xgb-logs")) as running:
        yield running


def expected(models: Models, model: str) -> dict[str, np.ndarray[Any, Any]]:
    """Every output, computed by XGBoost itself on the rows every test sends."""
    x = models.x
    if model == "churn":
        booster = models.binary
        d = xgb.DMatrix(x, feature_names=FEATURES)
        p = booster.predict(d)
        return {
            "predict": (p > 0.5).astype(np.int64),
            "predict_proba": np.column_stack([1 - p, p]),
            "predict_raw": booster.predict(d, output_margin=True),
            "predict_contrib": booster.predict(d, pred_contribs=True),
            "predict_leaf": booster.predict(d, pred_leaf=True),
        }
    wrapper = {"tiers": models.multiclass, "spend": models.regressor, "rank": models.ranker}[model]
    out = {
        "predict": wrapper.predict(x),
        "predict_raw": wrapper.predict(x, output_margin=True),
        "predict_contrib": wrapper.get_booster().predict(xgb.DMatrix(x), pred_contribs=True),
        "predict_leaf": wrapper.apply(x),
    }
    if model == "tiers":
        out["predict_proba"] = wrapper.predict_proba(x)
    return out


def compare(name: str, got: np.ndarray[Any, Any], want: np.ndarray[Any, Any]) -> None:
    if name in ("predict_leaf",) or want.dtype.kind in "iu":
        np.testing.assert_array_equal(got, want, err_msg=name)
    else:
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, err_msg=name)


CASES = [("churn", ALL), ("tiers", ALL), ("spend", NO_PROBA), ("rank", NO_PROBA)]


@pytest.mark.parametrize(("model", "outputs"), CASES)
def test_http_binary_every_output(
    server: Server, models: tuple[Path, Models], model: str, outputs: list[str]
) -> None:
    x = models[1].x
    with httpclient.InferenceServerClient(url=server.http_address) as client:
        inp = httpclient.InferInput("input-0", list(x.shape), "FP32")
        inp.set_data_from_numpy(x)  # binary: NaN (missing) travels as it is
        requested = [httpclient.InferRequestedOutput(n, binary_data=True) for n in outputs]
        result = client.infer(model, [inp], outputs=requested)
    want = expected(models[1], model)
    for name in outputs:
        compare(name, result.as_numpy(name), want[name])


@pytest.mark.parametrize(("model", "outputs"), CASES)
def test_grpc_every_output(
    server: Server, models: tuple[Path, Models], model: str, outputs: list[str]
) -> None:
    x = models[1].x
    client = grpcclient.InferenceServerClient(url=server.grpc_address)
    try:
        inp = grpcclient.InferInput("input-0", list(x.shape), "FP32")
        inp.set_data_from_numpy(x)
        requested = [grpcclient.InferRequestedOutput(n) for n in outputs]
        result = client.infer(model, [inp], outputs=requested)
        meta = client.get_model_metadata(model, as_json=True)
    finally:
        client.close()
    want = expected(models[1], model)
    for name in outputs:
        compare(name, result.as_numpy(name), want[name])
    assert [o["name"] for o in meta["outputs"]] == outputs
    assert [int(d) for d in meta["inputs"][0]["shape"]] == [-1, 4]


def test_http_json_tensors(server: Server, models: tuple[Path, Models]) -> None:
    x = np.nan_to_num(models[1].x)  # JSON has no NaN literal
    with httpclient.InferenceServerClient(url=server.http_address) as client:
        inp = httpclient.InferInput("input-0", list(x.shape), "FP32")
        inp.set_data_from_numpy(x, binary_data=False)
        names = ["predict", "predict_proba"]
        requested = [httpclient.InferRequestedOutput(n, binary_data=False) for n in names]
        result = client.infer("tiers", [inp], outputs=requested)
    wrapper = models[1].multiclass
    np.testing.assert_array_equal(result.as_numpy("predict"), wrapper.predict(x))
    np.testing.assert_allclose(result.as_numpy("predict_proba"), wrapper.predict_proba(x), 1e-6)


def test_metadata_over_rest(server: Server) -> None:
    with httpx.Client(base_url=server.http_url, timeout=30) as client:
        meta = client.get("/v2/models/churn").json()
    assert meta["platform"] == "xgboost"
    assert meta["inputs"] == [
        {
            "name": "input-0",
            "datatype": "FP32",
            "shape": [-1, 4],
            "parameters": {"feature_names": FEATURES},
        }
    ]
    assert [(o["name"], o["datatype"], o["shape"]) for o in meta["outputs"]] == [
        ("predict", "INT64", [-1]),
        ("predict_proba", "FP32", [-1, 2]),
        ("predict_raw", "FP32", [-1]),
        ("predict_contrib", "FP32", [-1, 5]),
        ("predict_leaf", "INT32", [-1, 6]),
    ]


def test_errors_are_400s_that_say_what_is_wrong(
    server: Server, models: tuple[Path, Models]
) -> None:
    x = models[1].x
    with httpclient.InferenceServerClient(url=server.http_address) as client:
        inp = httpclient.InferInput("input-0", [16, 3], "FP32")
        inp.set_data_from_numpy(np.ascontiguousarray(x[:, :3]))
        with pytest.raises(InferenceServerException, match="expects 4 features per row, the"):
            client.infer("churn", [inp])
        inp = httpclient.InferInput("input-0", list(x.shape), "FP32")
        inp.set_data_from_numpy(x)
        wanted = [httpclient.InferRequestedOutput("predict_proba")]
        with pytest.raises(InferenceServerException) as info:
            client.infer("spend", [inp], outputs=wanted)
    assert "it can produce: predict, predict_raw, predict_contrib, predict_leaf" in str(info.value)
    with httpx.Client(base_url=server.http_url, timeout=30) as client:
        response = client.post(
            "/v2/models/churn/infer",
            json={
                "inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}]
            },
        )
    assert response.status_code == 400
    assert "expects 4 features per row, the request has 3" in response.json()["error"]
    client2 = grpcclient.InferenceServerClient(url=server.grpc_address)
    try:
        inp = grpcclient.InferInput("input-0", list(x.shape), "FP32")
        inp.set_data_from_numpy(x)
        with pytest.raises(InferenceServerException, match="cannot produce output 'predict_proba'"):
            client2.infer("rank", [inp], outputs=[grpcclient.InferRequestedOutput("predict_proba")])
    finally:
        client2.close()


def test_example_end_to_end(tmp_path: Path) -> None:
    """examples/xgboost as a user runs it: train, serve, send request.json."""
    models = tmp_path / "models"
    subprocess.run(
        [sys.executable, str(EXAMPLES / "xgboost" / "train.py"), str(models / "wine")],
        check=True,
        capture_output=True,
    )
    booster = xgb.Booster(model_file=str(models / "wine" / "model.ubj"))
    body = (EXAMPLES / "xgboost" / "request.json").read_bytes()
    request = json.loads(body)
    rows = np.asarray(request["inputs"][0]["data"], dtype=np.float32)
    with serve(models, tmp_path / "logs") as server:
        response = httpx.post(
            f"{server.http_url}/v2/models/wine/infer",
            content=body,
            headers={"Content-Type": "application/json"},
            timeout=30,
        )
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["id"] == "wine-example"
    assert answer["model_version"] == "1"
    outputs = {o["name"]: o for o in answer["outputs"]}
    probabilities = booster.inplace_predict(rows)
    assert outputs["predict"]["data"] == np.argmax(probabilities, axis=1).tolist() == [0, 1, 2]
    got = np.asarray(outputs["predict_proba"]["data"]).reshape(outputs["predict_proba"]["shape"])
    np.testing.assert_allclose(got, probabilities, rtol=1e-6)
