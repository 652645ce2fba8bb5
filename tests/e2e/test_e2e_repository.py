"""The model repository API while serving: index, load, unload, reload, and a model that
fails to load without stopping the others."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from e2e_server import ROWS, Server, serve, train_logistic, train_tree, write_model
from tritonclient.utils import InferenceServerException

pytestmark = pytest.mark.e2e

BROKEN = {"implementation": "sklearn", "parameters": {"extra": {"predict_fn": "transform"}}}


@pytest.fixture
def models(tmp_path: Path) -> Path:
    root = tmp_path / "models"
    write_model(root / "iris", train_logistic(), {"implementation": "sklearn"})
    write_model(root / "broken", train_logistic(), BROKEN)
    return root


@pytest.fixture
def server(models: Path, tmp_path: Path) -> Iterator[Server]:
    with serve(models, tmp_path / "logs", ready_models=["iris"]) as running:
        yield running


def http_predict(client: Any, model: str) -> np.ndarray[Any, Any]:
    inp = httpclient.InferInput("input-0", list(ROWS.shape), "FP64")
    inp.set_data_from_numpy(ROWS)
    outputs = [httpclient.InferRequestedOutput("predict_proba")]
    return np.asarray(client.infer(model, [inp], outputs=outputs).as_numpy("predict_proba"))


def grpc_predict(client: Any, model: str) -> np.ndarray[Any, Any]:
    inp = grpcclient.InferInput("input-0", list(ROWS.shape), "FP64")
    inp.set_data_from_numpy(ROWS)
    outputs = [grpcclient.InferRequestedOutput("predict_proba")]
    return np.asarray(client.infer(model, [inp], outputs=outputs).as_numpy("predict_proba"))


def test_repository_over_http(server: Server, models: Path) -> None:
    client = httpclient.InferenceServerClient(url=server.http_address)
    try:
        index = {entry["name"]: entry for entry in client.get_model_repository_index()}
        assert index["iris"]["state"] == "READY"
        assert index["broken"]["state"] == "UNAVAILABLE"
        assert "predict_fn" in index["broken"]["reason"]
        # Strict readiness: one model failed, so the server is not ready, but it serves.
        assert not client.is_server_ready()
        assert client.is_server_live()
        with pytest.raises(InferenceServerException, match="predict_fn") as failed:
            http_predict(client, "broken")
        assert failed.value.status() == "503"

        client.unload_model("iris")
        assert not client.is_model_ready("iris")
        with pytest.raises(InferenceServerException) as gone:
            http_predict(client, "iris")
        assert gone.value.status() == "404"

        client.load_model("iris")
        assert client.is_model_ready("iris")
        np.testing.assert_allclose(
            http_predict(client, "iris"), train_logistic().predict_proba(ROWS)
        )

        # Reload with a different model file: answers come from the new model.
        tree = train_tree()
        write_model(models / "iris", tree)
        client.load_model("iris")
        np.testing.assert_allclose(http_predict(client, "iris"), tree.predict_proba(ROWS))

        # Fix the broken model's settings and load it: now every model is ready.
        write_model(models / "broken", None, {"implementation": "sklearn"})
        client.load_model("broken")
        assert client.is_model_ready("broken")
        assert client.is_server_ready()
        np.testing.assert_allclose(
            http_predict(client, "broken"), train_logistic().predict_proba(ROWS)
        )
    finally:
        client.close()


def test_repository_over_grpc(server: Server, models: Path) -> None:
    client = grpcclient.InferenceServerClient(url=server.grpc_address)
    try:
        index = client.get_model_repository_index(as_json=True)["models"]
        states = {entry["name"]: entry.get("state") for entry in index}
        assert states == {"iris": "READY", "broken": "UNAVAILABLE"}

        client.unload_model("iris")
        assert not client.is_model_ready("iris")
        with pytest.raises(InferenceServerException) as gone:
            grpc_predict(client, "iris")
        assert gone.value.status() == "StatusCode.NOT_FOUND"

        tree = train_tree()
        write_model(models / "iris", tree)
        client.load_model("iris")
        assert client.is_model_ready("iris")
        np.testing.assert_allclose(grpc_predict(client, "iris"), tree.predict_proba(ROWS))
    finally:
        client.close()


def test_loading_a_model_added_while_serving(server: Server, models: Path) -> None:
    model = train_logistic(c=0.1, labels="str")
    write_model(models / "late", model, {"implementation": "sklearn"})
    with httpx.Client(base_url=server.http_url, timeout=60) as http:
        assert http.post("/v2/repository/models/late/load").status_code == 200
        request = {
            "inputs": [{"name": "x", "shape": [4, 4], "datatype": "FP64", "data": ROWS.tolist()}]
        }
        response = http.post("/v2/models/late/infer", content=json.dumps(request))
        assert response.status_code == 200, response.text
        assert response.json()["outputs"][0]["data"] == list(model.predict(ROWS))
