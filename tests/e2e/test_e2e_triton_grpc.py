"""tritonclient.grpc against ``kernel serve``: metadata, config, readiness and inference."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from e2e_server import ROWS, Repository, Server
from tritonclient.utils import InferenceServerException

pytestmark = pytest.mark.e2e


@pytest.fixture
def client(server: Server) -> Iterator[Any]:
    c = grpcclient.InferenceServerClient(url=server.grpc_address)
    yield c
    c.close()


def test_health_and_metadata(client: Any) -> None:
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.is_model_ready("iris")
    assert not client.is_model_ready("species", "9")
    assert client.get_server_metadata(as_json=True)["name"]
    meta = client.get_model_metadata("iris", as_json=True)
    assert meta["name"] == "iris"
    (inp,) = meta["inputs"]
    assert (inp["name"], inp["datatype"], [int(d) for d in inp["shape"]]) == (
        "input-0",
        "FP64",
        [-1, 4],
    )
    assert [o["name"] for o in meta["outputs"]][:2] == ["predict", "predict_proba"]


def test_model_config(client: Any) -> None:
    config = client.get_model_config("iris", as_json=True)["config"]
    assert config["name"] == "iris"
    assert config["input"][0]["name"] == "input-0"
    assert config["input"][0]["data_type"] == "TYPE_FP64"


def test_infer_matches_the_estimator(client: Any, repository: Repository) -> None:
    inp = grpcclient.InferInput("input-0", list(ROWS.shape), "FP64")
    inp.set_data_from_numpy(ROWS)
    names = ["predict", "predict_proba", "predict_log_proba"]
    result = client.infer(
        "iris", [inp], outputs=[grpcclient.InferRequestedOutput(n) for n in names], request_id="g"
    )
    model = repository.iris
    np.testing.assert_array_equal(result.as_numpy("predict"), model.predict(ROWS))
    np.testing.assert_allclose(result.as_numpy("predict_proba"), model.predict_proba(ROWS))
    np.testing.assert_allclose(result.as_numpy("predict_log_proba"), model.predict_log_proba(ROWS))
    assert result.get_response(as_json=True)["id"] == "g"


def test_string_labels(client: Any, repository: Repository) -> None:
    inp = grpcclient.InferInput("input-0", list(ROWS.shape), "FP64")
    inp.set_data_from_numpy(ROWS)
    result = client.infer("species", [inp])
    labels = [v.decode() for v in result.as_numpy("predict")]
    assert labels == list(repository.species.predict(ROWS))


def test_stream_infer_answers_in_order(client: Any, repository: Repository) -> None:
    answers: list[Any] = []
    client.start_stream(callback=lambda result, error: answers.append(error or result))
    try:
        for i in range(len(ROWS)):
            inp = grpcclient.InferInput("input-0", [1, 4], "FP64")
            inp.set_data_from_numpy(ROWS[i : i + 1])
            client.async_stream_infer("iris", [inp], request_id=str(i))
    finally:
        client.stop_stream()
    assert [a.get_response().id for a in answers] == [str(i) for i in range(len(ROWS))]
    got = [int(a.as_numpy("predict")[0]) for a in answers]
    assert got == list(repository.iris.predict(ROWS))


@pytest.mark.parametrize(
    ("model", "columns", "outputs", "status", "fragment"),
    [
        (
            "iris",
            3,
            [],
            "INVALID_ARGUMENT",
            "expects 4 features per row, the request has 3",
        ),
        (
            "iris",
            4,
            ["predict_probability"],
            "INVALID_ARGUMENT",
            "it can produce: predict",
        ),
        ("nope", 4, [], "NOT_FOUND", "nope"),
    ],
)
def test_errors_map_to_grpc_status(
    client: Any, model: str, columns: int, outputs: list[str], status: str, fragment: str
) -> None:
    rows = ROWS[:, :columns].copy()
    inp = grpcclient.InferInput("input-0", list(rows.shape), "FP64")
    inp.set_data_from_numpy(rows)
    requested = [grpcclient.InferRequestedOutput(n) for n in outputs] or None
    with pytest.raises(InferenceServerException) as info:
        client.infer(model, [inp], outputs=requested)
    assert info.value.status() == f"StatusCode.{status}"
    assert fragment in info.value.message()
    assert client.is_model_ready("iris")
