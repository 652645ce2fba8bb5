"""CatBoost models served by the real ``kernel serve``, driven by tritonclient over REST (JSON
and binary tensors) and gRPC: every output equals CatBoost's own call on the same rows."""

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
import pytest

catboost = pytest.importorskip("catboost")
pytest.importorskip("kernel_catboost")
pd = pytest.importorskip("pandas")

import tritonclient.grpc as grpcclient  # noqa: E402
import tritonclient.http as httpclient  # noqa: E402
from e2e_server import Server, serve  # noqa: E402
from tritonclient.utils import InferenceServerException  # noqa: E402

pytestmark = pytest.mark.e2e

TRAIN: dict[str, Any] = {
    "iterations": 30,
    "depth": 4,
    "random_seed": 0,
    "thread_count": 1,
    "verbose": False,
    "allow_writing_files": False,
}
ROWS = np.random.default_rng(5).normal(size=(6, 4))


@dataclass
class Models:
    """The fitted estimators the server's model folders were saved from."""

    churn: Any  # binary, string labels, .cbm
    tiers: Any  # three integer classes, .json, MLServer's class path
    search: Any  # YetiRank ranker
    loans: Any  # categorical columns, fit on a DataFrame
    loan_rows: Any


def _folder(root: Path, name: str, model: Any, settings: dict[str, Any], **save: Any) -> None:
    folder = root / name
    folder.mkdir(parents=True)
    fmt = save.pop("format", "cbm")
    model.save_model(str(folder / f"model.{fmt}"), format=fmt, **save)
    (folder / "model-settings.json").write_text(json.dumps({"name": name, **settings}))


def _train(root: Path) -> Models:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 4))
    churn = catboost.CatBoostClassifier(**TRAIN).fit(x, np.where(x[:, 0] > 0, "stay", "leave"))
    tiers = catboost.CatBoostClassifier(**TRAIN).fit(x, (x[:, 1] > 0).astype(int) + (x[:, 2] > 0))
    groups = np.repeat(np.arange(30), 10)
    search = catboost.CatBoostRanker(loss_function="YetiRank", **TRAIN)
    search.fit(x, np.clip(np.round(x[:, 3] + 1), 0, 3), group_id=groups)
    frame = pd.DataFrame(
        {
            "age": rng.integers(18, 80, 300).astype(float),
            "city": rng.choice(["oslo", "rome", "lima"], 300),
            "income": rng.normal(50.0, 10.0, 300),
        }
    )
    approved = (frame["city"] == "rome") | (frame["income"] > 55)
    loans = catboost.CatBoostClassifier(cat_features=["city"], **TRAIN).fit(frame, approved)
    _folder(root, "churn", churn, {"implementation": "catboost"})
    _folder(
        root,
        "tiers",
        tiers,
        {"implementation": "mlserver_catboost.CatboostModel", "parameters": {"version": "1"}},
        format="json",
    )
    _folder(
        root,
        "search",
        search,
        {
            "implementation": "kernel_catboost.CatBoostRuntime",
            "parameters": {"extra": {"thread_count": 2}},
        },
    )
    _folder(root, "loans", loans, {"implementation": "catboost"})
    return Models(churn, tiers, search, loans, frame.iloc[:8])


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Models, Server]]:
    root = tmp_path_factory.mktemp("catboost-models")
    trained = _train(root)
    with serve(root, tmp_path_factory.mktemp("catboost-logs")) as server:
        yield trained, server


def _raw(model: Any, rows: Any) -> Any:
    return catboost.CatBoost.predict(model, rows, prediction_type="RawFormulaVal")


def _shap(model: Any, rows: Any) -> Any:
    cats = model.get_cat_feature_indices() or None
    return model.get_feature_importance(catboost.Pool(rows, cat_features=cats), type="ShapValues")


def _labels(values: Any) -> list[Any]:
    flat = np.asarray(values).reshape(-1)
    return [v.decode() if isinstance(v, bytes) else v for v in flat.tolist()]


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_http_classifiers_and_ranker(models: tuple[Models, Server], binary: bool) -> None:
    trained, server = models
    client = httpclient.InferenceServerClient(url=server.http_address)
    try:
        names = ["predict", "predict_proba", "predict_raw", "predict_contrib"]
        for name, model, version in (("churn", trained.churn, ""), ("tiers", trained.tiers, "1")):
            inp = httpclient.InferInput("input-0", list(ROWS.shape), "FP64")
            inp.set_data_from_numpy(ROWS, binary_data=binary)
            outputs = [httpclient.InferRequestedOutput(n, binary_data=binary) for n in names]
            result = client.infer(name, [inp], model_version=version, outputs=outputs)
            assert _labels(result.as_numpy("predict")) == _labels(model.predict(ROWS))
            np.testing.assert_allclose(result.as_numpy("predict_proba"), model.predict_proba(ROWS))
            np.testing.assert_allclose(result.as_numpy("predict_raw"), _raw(model, ROWS))
            np.testing.assert_allclose(result.as_numpy("predict_contrib"), _shap(model, ROWS))
        inp = httpclient.InferInput("input-0", list(ROWS.shape), "FP32")
        inp.set_data_from_numpy(ROWS.astype(np.float32), binary_data=binary)
        result = client.infer("search", [inp])  # no outputs named: predict
        np.testing.assert_allclose(
            result.as_numpy("predict"), trained.search.predict(ROWS.astype(np.float32))
        )
    finally:
        client.close()


def test_grpc_classifiers_and_ranker(models: tuple[Models, Server]) -> None:
    trained, server = models
    client = grpcclient.InferenceServerClient(url=server.grpc_address)
    try:
        inp = grpcclient.InferInput("input-0", list(ROWS.shape), "FP64")
        inp.set_data_from_numpy(ROWS)
        names = ["predict", "predict_proba", "predict_raw", "predict_contrib"]
        outputs = [grpcclient.InferRequestedOutput(n) for n in names]
        result = client.infer("churn", [inp], outputs=outputs)
        assert _labels(result.as_numpy("predict")) == _labels(trained.churn.predict(ROWS))
        np.testing.assert_allclose(
            result.as_numpy("predict_proba"), trained.churn.predict_proba(ROWS)
        )
        np.testing.assert_allclose(result.as_numpy("predict_raw"), _raw(trained.churn, ROWS))
        np.testing.assert_allclose(result.as_numpy("predict_contrib"), _shap(trained.churn, ROWS))
        result = client.infer("tiers", [inp], model_version="1", outputs=outputs[:1])
        np.testing.assert_array_equal(result.as_numpy("predict"), trained.tiers.predict(ROWS)[:, 0])
        outputs = [grpcclient.InferRequestedOutput(n) for n in ("predict", "predict_contrib")]
        result = client.infer("search", [inp], outputs=outputs)
        np.testing.assert_allclose(result.as_numpy("predict"), trained.search.predict(ROWS))
        np.testing.assert_allclose(result.as_numpy("predict_contrib"), _shap(trained.search, ROWS))
    finally:
        client.close()


def _loan_inputs(module: Any, rows: Any) -> list[Any]:
    """One named input per DataFrame column; the categorical one as BYTES."""
    inputs = []
    for column in ("city", "income", "age"):  # not the training order: matched by name
        values = rows[column].to_numpy()
        if values.dtype == object:
            inp = module.InferInput(column, [len(values)], "BYTES")
            inp.set_data_from_numpy(np.array([v.encode() for v in values], dtype=object))
        else:
            inp = module.InferInput(column, [len(values)], "FP64")
            inp.set_data_from_numpy(values.astype(np.float64))
        inputs.append(inp)
    return inputs


def test_categorical_model_with_named_inputs(models: tuple[Models, Server]) -> None:
    trained, server = models
    rows, model = trained.loan_rows, trained.loans
    http = httpclient.InferenceServerClient(url=server.http_address)
    grpc = grpcclient.InferenceServerClient(url=server.grpc_address)
    try:
        for module, client in ((httpclient, http), (grpcclient, grpc)):
            outputs = [module.InferRequestedOutput(n) for n in ("predict", "predict_proba")]
            result = client.infer("loans", _loan_inputs(module, rows), outputs=outputs)
            assert result.as_numpy("predict").tolist() == model.predict(rows).tolist()
            np.testing.assert_allclose(result.as_numpy("predict_proba"), model.predict_proba(rows))
        meta = http.get_model_metadata("loans")
        assert [(i["name"], i["datatype"]) for i in meta["inputs"]] == [
            ("age", "FP32"),
            ("city", "BYTES"),
            ("income", "FP32"),
        ]
        assert meta["inputs"][1]["parameters"] == {"feature_type": "categorical"}
        meta = grpc.get_model_metadata("loans", as_json=True)
        assert [i["name"] for i in meta["inputs"]] == ["age", "city", "income"]
    finally:
        http.close()
        grpc.close()


def test_errors_name_what_is_wrong(models: tuple[Models, Server]) -> None:
    _, server = models
    http = httpclient.InferenceServerClient(url=server.http_address)
    grpc = grpcclient.InferenceServerClient(url=server.grpc_address)
    try:
        for module, client in ((httpclient, http), (grpcclient, grpc)):
            narrow = module.InferInput("input-0", [2, 3], "FP64")
            narrow.set_data_from_numpy(ROWS[:2, :3].copy())
            with pytest.raises(
                InferenceServerException, match="expects 4 features per row, the request has 3"
            ):
                client.infer("churn", [narrow])
            inp = module.InferInput("input-0", [2, 4], "FP64")
            inp.set_data_from_numpy(ROWS[:2].copy())
            proba = [module.InferRequestedOutput("predict_proba")]
            with pytest.raises(
                InferenceServerException,
                match="it can produce: predict, predict_raw, predict_contrib",
            ) as err:
                client.infer("search", [inp], outputs=proba)
            if module is httpclient:
                assert err.value.status() == "400"
    finally:
        http.close()
        grpc.close()


def test_metadata_lists_outputs(models: tuple[Models, Server]) -> None:
    _, server = models
    client = httpclient.InferenceServerClient(url=server.http_address)
    try:
        meta = client.get_model_metadata("tiers", model_version="1")
        assert meta["platform"]
        assert meta["inputs"] == [{"name": "input-0", "datatype": "FP32", "shape": [-1, 4]}]
        assert [(o["name"], o["shape"]) for o in meta["outputs"]] == [
            ("predict", [-1]),
            ("predict_proba", [-1, 3]),
            ("predict_raw", [-1, 3]),
            ("predict_contrib", [-1, 3, 5]),
        ]
    finally:
        client.close()


def test_example_end_to_end(tmp_path: Path) -> None:
    """examples/catboost as a user runs it: train, serve, send request.json."""
    examples = Path(__file__).resolve().parents[2] / "examples" / "catboost"
    models = tmp_path / "models"
    subprocess.run(
        [sys.executable, str(examples / "train.py"), str(models / "loans")],
        check=True,
        capture_output=True,
    )
    model = catboost.CatBoostClassifier()
    model.load_model(str(models / "loans" / "model.cbm"))
    request = json.loads((examples / "request.json").read_text())
    rows = pd.DataFrame({t["name"]: t["data"] for t in request["inputs"]})
    with serve(models, tmp_path / "logs") as server:
        response = httpx.post(
            f"{server.http_url}/v2/models/loans/infer",
            content=(examples / "request.json").read_bytes(),
            headers={"Content-Type": "application/json"},
            timeout=30,
        )
    assert response.status_code == 200, response.text
    outputs = {o["name"]: o for o in response.json()["outputs"]}
    assert outputs["predict"]["datatype"] == "BYTES"
    assert outputs["predict"]["data"] == list(model.predict(rows))
    probabilities = np.asarray(outputs["predict_proba"]["data"]).reshape(
        outputs["predict_proba"]["shape"]
    )
    np.testing.assert_allclose(probabilities, model.predict_proba(rows))
