"""tritonclient.http against ``kernel serve``: health, metadata, config and inference with
binary and JSON tensors, every prediction compared with the estimator's own."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import tritonclient.http as httpclient
from e2e_server import ROWS, Repository, Server
from tritonclient.utils import InferenceServerException

pytestmark = pytest.mark.e2e


@pytest.fixture
def client(server: Server) -> Iterator[Any]:
    c = httpclient.InferenceServerClient(url=server.http_address)
    yield c
    c.close()


def text(values: np.ndarray[Any, Any]) -> list[str]:
    """BYTES come back as bytes (binary) or str (JSON); compare them as str."""
    return [v.decode() if isinstance(v, bytes) else str(v) for v in values.reshape(-1)]


def test_health_and_server_metadata(client: Any) -> None:
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.is_model_ready("iris")
    assert client.is_model_ready("species", "1")
    assert not client.is_model_ready("no-such-model")
    meta = client.get_server_metadata()
    assert meta["name"]
    assert "model_repository" in meta["extensions"]


def test_model_metadata(client: Any) -> None:
    meta = client.get_model_metadata("iris")
    assert meta["name"] == "iris"
    assert meta["inputs"] == [{"name": "input-0", "datatype": "FP64", "shape": [-1, 4]}]
    outputs = {o["name"]: o for o in meta["outputs"]}
    assert list(outputs) == ["predict", "predict_proba", "predict_log_proba", "decision_function"]
    assert outputs["predict"]["datatype"] == "INT64"
    assert outputs["predict_proba"]["shape"] == [-1, 3]
    species = client.get_model_metadata("species", "1")
    assert species["versions"] == ["1"]
    assert {o["name"]: o["datatype"] for o in species["outputs"]}["predict"] == "BYTES"


def test_model_config(client: Any) -> None:
    config = client.get_model_config("iris")
    assert config["name"] == "iris"
    assert [(i["name"], i["data_type"]) for i in config["input"]] == [("input-0", "TYPE_FP64")]
    assert "predict_proba" in [o["name"] for o in config["output"]]


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_infer_matches_the_estimator(client: Any, repository: Repository, binary: bool) -> None:
    inp = httpclient.InferInput("input-0", list(ROWS.shape), "FP64")
    inp.set_data_from_numpy(ROWS, binary_data=binary)
    outputs = [
        httpclient.InferRequestedOutput("predict", binary_data=binary),
        httpclient.InferRequestedOutput("predict_proba", binary_data=binary),
        httpclient.InferRequestedOutput("decision_function", binary_data=binary),
    ]
    result = client.infer("iris", [inp], outputs=outputs, request_id="r-1")
    model = repository.iris
    np.testing.assert_array_equal(result.as_numpy("predict"), model.predict(ROWS))
    np.testing.assert_allclose(result.as_numpy("predict_proba"), model.predict_proba(ROWS))
    np.testing.assert_allclose(result.as_numpy("decision_function"), model.decision_function(ROWS))
    assert result.get_response()["id"] == "r-1"


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_string_labels_and_default_output(
    client: Any, repository: Repository, binary: bool
) -> None:
    rows = ROWS.astype(np.float32)
    inp = httpclient.InferInput("measurements", list(rows.shape), "FP32")
    inp.set_data_from_numpy(rows, binary_data=binary)
    # No outputs named: the model's predict_fn (predict) comes back.
    result = client.infer("species", [inp], model_version="1")
    response = result.get_response()
    assert [o["name"] for o in response["outputs"]] == ["predict"]
    assert response["outputs"][0]["datatype"] == "BYTES"
    assert response["model_version"] == "1"
    assert text(result.as_numpy("predict")) == list(repository.species.predict(rows))


def test_log_proba_binary(client: Any, repository: Repository) -> None:
    inp = httpclient.InferInput("input-0", list(ROWS.shape), "FP64")
    inp.set_data_from_numpy(ROWS)
    out = httpclient.InferRequestedOutput("predict_log_proba", binary_data=True)
    result = client.infer("iris", [inp], outputs=[out])
    np.testing.assert_allclose(
        result.as_numpy("predict_log_proba"), repository.iris.predict_log_proba(ROWS)
    )


def test_many_rows(client: Any, repository: Repository) -> None:
    rows = np.random.default_rng(0).uniform(0.1, 8.0, size=(1000, 4))
    inp = httpclient.InferInput("input-0", list(rows.shape), "FP64")
    inp.set_data_from_numpy(rows)
    outputs = [httpclient.InferRequestedOutput(n) for n in ("predict", "predict_proba")]
    result = client.infer("iris", [inp], outputs=outputs)
    np.testing.assert_array_equal(result.as_numpy("predict"), repository.iris.predict(rows))
    np.testing.assert_allclose(
        result.as_numpy("predict_proba"), repository.iris.predict_proba(rows)
    )


def test_errors_reach_the_client(client: Any) -> None:
    rows = ROWS[:, :3].copy()
    inp = httpclient.InferInput("input-0", list(rows.shape), "FP64")
    inp.set_data_from_numpy(rows)
    with pytest.raises(InferenceServerException, match="expects 4 features per row") as info:
        client.infer("iris", [inp])
    assert info.value.status() == "400"
