"""The LightGBM runtime through a real ``kernel serve``: models of every kind trained here,
saved in each format, named by each ``implementation`` alias, and every output compared with
LightGBM's own calls on the same rows, over REST (binary and JSON tensors) and gRPC with
tritonclient. The repository's example is run as a user runs it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
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

lgb = pytest.importorskip("lightgbm")
pytest.importorskip("kernel_lightgbm")

pytestmark = pytest.mark.e2e

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
FEATURES = ["age", "income", "tenure", "visits"]
ALL = ["predict", "predict_proba", "predict_raw", "predict_contrib", "predict_leaf"]
NO_PROBA = ["predict", "predict_raw", "predict_contrib", "predict_leaf"]
PARAMS = {"verbose": -1, "num_leaves": 7, "min_data_in_leaf": 5, "seed": 1}

#: Rows every test sends; the last has a missing value (binary tensors carry NaN, JSON cannot).
ROWS = np.random.default_rng(11).normal(size=(6, 4))
ROWS[5, 1] = np.nan


@dataclass
class Models:
    """What the server serves, by model name, to compare every answer with."""

    churn: Any  # binary Booster with feature names, model.txt
    tiers: Any  # LGBMClassifier with string labels, model.joblib
    spend: Any  # regression Booster, model.bst, version 1, 2 threads per call
    rank: Any  # lambdarank Booster, model.model


def _folder(root: Path, name: str, settings: dict[str, Any]) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "model-settings.json").write_text(json.dumps({"name": name, **settings}))
    return folder


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Models]:
    rng = np.random.default_rng(5)
    x = rng.normal(size=(300, 4))
    y = x[:, 0] - 2 * x[:, 2] + x[:, 1] * x[:, 3] + 0.2 * rng.normal(size=300)
    root = tmp_path_factory.mktemp("lgb-models")

    churn = lgb.train(
        {**PARAMS, "objective": "binary"},
        lgb.Dataset(x, y > 0, feature_name=FEATURES),
        num_boost_round=8,
    )
    churn.save_model(str(_folder(root, "churn", {"implementation": "lightgbm"}) / "model.txt"))

    labels = np.array(["bronze", "silver", "gold"])[np.digitize(y, [-1, 1])]
    tiers = lgb.LGBMClassifier(n_estimators=6, **PARAMS).fit(x, labels)
    folder = _folder(root, "tiers", {"implementation": "mlserver_lightgbm.LightGBMModel"})
    joblib.dump(tiers, folder / "model.joblib")

    spend = lgb.train({**PARAMS, "objective": "regression"}, lgb.Dataset(x, y), num_boost_round=8)
    settings = {
        "implementation": "kernel_lightgbm.LightGBMRuntime",
        "parameters": {"version": "1", "extra": {"num_threads": 2}},
    }
    spend.save_model(str(_folder(root, "spend", settings) / "model.bst"))

    relevance = np.digitize(y, [-1, 0, 1])
    rank = lgb.train(
        {**PARAMS, "objective": "lambdarank"},
        lgb.Dataset(x, relevance, group=[10] * 30),
        num_boost_round=5,
    )
    rank.save_model(str(_folder(root, "rank", {"implementation": "lightgbm"}) / "model.model"))
    return root, Models(churn, tiers, spend, rank)


@pytest.fixture(scope="module")
def server(
    models: tuple[Path, Models], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    with serve(models[0], tmp_path_factory.mktemp("lgb-logs")) as running:
        yield running


def expected(models: Models, name: str, rows: np.ndarray[Any, Any]) -> dict[str, Any]:
    """LightGBM's own answers: the outputs each served model must give for ``rows``."""
    if name == "tiers":
        clf = models.tiers
        return {
            "predict": np.array([label.encode() for label in clf.predict(rows)], dtype=object),
            "predict_proba": clf.predict_proba(rows),
            "predict_raw": clf.predict(rows, raw_score=True),
            "predict_contrib": clf.predict(rows, pred_contrib=True),
            "predict_leaf": clf.predict(rows, pred_leaf=True),
        }
    booster = getattr(models, name)
    out = {
        "predict": booster.predict(rows),
        "predict_raw": booster.predict(rows, raw_score=True),
        "predict_contrib": booster.predict(rows, pred_contrib=True),
        "predict_leaf": booster.predict(rows, pred_leaf=True),
    }
    if name == "churn":
        p = out["predict"]
        out["predict"] = (p > 0.5).astype(np.int64)
        out["predict_proba"] = np.column_stack((1 - p, p))
    return out


def assert_outputs(got: dict[str, Any], want: dict[str, Any]) -> None:
    for name, value in got.items():
        if name in ("predict_leaf",) or value.dtype.kind in "iuO":
            np.testing.assert_array_equal(value, want[name], err_msg=name)
        else:
            np.testing.assert_allclose(value, want[name], err_msg=name)


CASES = [("churn", ALL), ("tiers", ALL), ("spend", NO_PROBA), ("rank", NO_PROBA)]


@pytest.mark.parametrize(("model", "outputs"), CASES)
@pytest.mark.parametrize("binary", [True, False])
def test_http_every_output(
    server: Server, models: tuple[Path, Models], model: str, outputs: list[str], binary: bool
) -> None:
    rows = ROWS if binary else ROWS[:5]
    client = httpclient.InferenceServerClient(url=server.http_address)
    try:
        inp = httpclient.InferInput("input-0", list(rows.shape), "FP64")
        inp.set_data_from_numpy(rows, binary_data=binary)
        wanted = [httpclient.InferRequestedOutput(n, binary_data=binary) for n in outputs]
        result = client.infer(model, [inp], outputs=wanted)
    finally:
        client.close()
    got = {name: result.as_numpy(name) for name in outputs}
    if model == "tiers" and not binary:
        # JSON carries BYTES as str.
        got["predict"] = np.array([str(v).encode() for v in got["predict"]], dtype=object)
    assert_outputs(got, expected(models[1], model, rows))


@pytest.mark.parametrize(("model", "outputs"), CASES)
def test_grpc_every_output(
    server: Server, models: tuple[Path, Models], model: str, outputs: list[str]
) -> None:
    client = grpcclient.InferenceServerClient(url=server.grpc_address)
    try:
        inp = grpcclient.InferInput("input-0", list(ROWS.shape), "FP64")
        inp.set_data_from_numpy(ROWS)
        wanted = [grpcclient.InferRequestedOutput(n) for n in outputs]
        result = client.infer(model, [inp], outputs=wanted, request_id="lgb")
    finally:
        client.close()
    assert result.get_response(as_json=True)["id"] == "lgb"
    got = {name: result.as_numpy(name) for name in outputs}
    assert_outputs(got, expected(models[1], model, ROWS))


def test_default_output_and_named_columns(server: Server, models: tuple[Path, Models]) -> None:
    # One [rows] input per feature, named after the model's features and sent out of order.
    order = [3, 1, 0, 2]
    body = {
        "inputs": [
            {"name": FEATURES[i], "shape": [5], "datatype": "FP64", "data": ROWS[:5, i].tolist()}
            for i in order
        ]
    }
    response = httpx.post(f"{server.http_url}/v2/models/churn/infer", json=body, timeout=30)
    assert response.status_code == 200, response.text
    (output,) = response.json()["outputs"]
    assert output["name"] == "predict"
    assert output["data"] == expected(models[1], "churn", ROWS[:5])["predict"].tolist()


def test_metadata(server: Server) -> None:
    client = httpclient.InferenceServerClient(url=server.http_address)
    try:
        churn = client.get_model_metadata("churn")
        tiers = client.get_model_metadata("tiers")
        spend = client.get_model_metadata("spend", "1")
    finally:
        client.close()
    assert churn["platform"] == "lightgbm"
    assert churn["inputs"] == [
        {
            "name": "input-0",
            "datatype": "FP64",
            "shape": [-1, 4],
            "parameters": {"feature_names": FEATURES},
        }
    ]
    assert [(o["name"], o["datatype"], o["shape"]) for o in churn["outputs"]] == [
        ("predict", "INT64", [-1]),
        ("predict_proba", "FP64", [-1, 2]),
        ("predict_raw", "FP64", [-1]),
        ("predict_contrib", "FP64", [-1, 5]),
        ("predict_leaf", "INT32", [-1, 8]),
    ]
    assert tiers["inputs"] == [{"name": "input-0", "datatype": "FP64", "shape": [-1, 4]}]
    assert tiers["outputs"][0] == {"name": "predict", "datatype": "BYTES", "shape": [-1]}
    assert tiers["outputs"][1]["shape"] == [-1, 3]
    assert [o["name"] for o in spend["outputs"]] == NO_PROBA
    grpc = grpcclient.InferenceServerClient(url=server.grpc_address)
    try:
        meta = grpc.get_model_metadata("rank", as_json=True)
    finally:
        grpc.close()
    assert [o["name"] for o in meta["outputs"]] == NO_PROBA
    assert [int(d) for d in meta["inputs"][0]["shape"]] == [-1, 4]


def test_errors_name_what_was_wrong(server: Server) -> None:
    http = httpclient.InferenceServerClient(url=server.http_address)
    grpc = grpcclient.InferenceServerClient(url=server.grpc_address)
    try:
        for module, client in ((httpclient, http), (grpcclient, grpc)):
            inp = module.InferInput("input-0", [2, 3], "FP64")
            inp.set_data_from_numpy(ROWS[:2, :3])
            with pytest.raises(InferenceServerException) as info:
                client.infer("churn", [inp])
            assert "expects 4 features per row, the request has 3" in str(info.value)

            inp = module.InferInput("input-0", [2, 4], "FP64")
            inp.set_data_from_numpy(ROWS[:2])
            with pytest.raises(InferenceServerException) as info:
                client.infer("spend", [inp], outputs=[module.InferRequestedOutput("predict_proba")])
            message = str(info.value)
            assert "cannot produce output 'predict_proba'" in message
            assert "it can produce: predict, predict_raw, predict_contrib, predict_leaf" in message
    finally:
        http.close()
        grpc.close()
    response = httpx.post(
        f"{server.http_url}/v2/models/spend/infer",
        json={
            "inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP64", "data": [1, 2, 3]}],
        },
        timeout=30,
    )
    assert response.status_code == 400
    assert "expects 4 features per row, the request has 3" in response.json()["error"]
    # The server is still serving after the bad requests.
    assert httpx.get(f"{server.http_url}/v2/models/spend/ready", timeout=30).status_code == 200


def test_example_end_to_end(tmp_path: Path) -> None:
    example = EXAMPLES / "lightgbm"
    folder = tmp_path / "models" / "wine"
    folder.mkdir(parents=True)
    shutil.copyfile(example / "model-settings.json", folder / "model-settings.json")
    subprocess.run(
        [sys.executable, str(example / "train.py"), str(folder)], check=True, capture_output=True
    )
    booster = lgb.Booster(model_file=str(folder / "model.txt"))
    request = json.loads((example / "request.json").read_text())
    rows = np.asarray(request["inputs"][0]["data"], dtype=np.float64)
    with serve(tmp_path / "models", tmp_path / "logs") as running:
        response = httpx.post(
            f"{running.http_url}/v2/models/wine/infer",
            content=(example / "request.json").read_bytes(),
            headers={"Content-Type": "application/json"},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["id"] == request["id"]
        outputs = {o["name"]: o for o in body["outputs"]}
        proba = booster.predict(rows)
        assert outputs["predict"]["data"] == np.argmax(proba, axis=1).tolist()
        got = np.asarray(outputs["predict_proba"]["data"]).reshape(
            outputs["predict_proba"]["shape"]
        )
        np.testing.assert_allclose(got, proba)
        assert running.stop() == 0
