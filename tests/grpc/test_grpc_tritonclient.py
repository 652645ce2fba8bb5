"""kernel's gRPC transport driven by the real tritonclient.grpc client (sync API)."""

from __future__ import annotations

import queue
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tritonclient.grpc as grpcclient

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))
from echo_runtimes import BROKEN_MESSAGE, BUG_SECRET, GRPC_LIMIT, LOAD_FAILURE
from tritonclient.utils import InferenceServerException


@pytest.fixture(scope="module")
def client(address: str) -> Iterator[grpcclient.InferenceServerClient]:
    with grpcclient.InferenceServerClient(address) as triton:
        yield triton


def _input(name: str, array: np.ndarray[Any, Any], datatype: str) -> grpcclient.InferInput:
    tensor = grpcclient.InferInput(name, list(array.shape), datatype)
    tensor.set_data_from_numpy(array)
    return tensor


def _status(info: pytest.ExceptionInfo[InferenceServerException]) -> str:
    return str(info.value.status())


def test_health(client: grpcclient.InferenceServerClient) -> None:
    assert client.is_server_live()
    # 'weights' never loads, so a strict server is not ready; the model answers per version.
    assert client.is_server_ready() is False
    assert client.is_model_ready("echo")
    assert client.is_model_ready("echo", "1")
    assert client.is_model_ready("weights") is False
    assert client.is_model_ready("nope") is False


def test_server_metadata(client: grpcclient.InferenceServerClient) -> None:
    meta = client.get_server_metadata(as_json=True)
    assert meta["name"]
    assert "model_repository" in meta["extensions"]


def test_model_metadata_and_config(client: grpcclient.InferenceServerClient) -> None:
    meta = client.get_model_metadata("echo", as_json=True)
    assert meta["name"] == "echo"
    assert meta["inputs"][0] == {"name": "INPUT0", "datatype": "FP32", "shape": ["-1", "4"]}
    config = client.get_model_config("echo", as_json=True)["config"]
    assert config["name"] == "echo"
    assert config["max_batch_size"] == 8
    assert config["input"][0]["data_type"] == "TYPE_FP32"
    with pytest.raises(InferenceServerException) as info:
        client.get_model_config("nope")
    assert _status(info) == "StatusCode.NOT_FOUND"


DTYPES: list[tuple[str, np.ndarray[Any, Any]]] = [
    ("BOOL", np.array([[True, False]])),
    ("UINT8", np.array([[0, 255]], dtype=np.uint8)),
    ("UINT64", np.array([[0, 2**64 - 1]], dtype=np.uint64)),
    ("INT16", np.array([[-5, 5]], dtype=np.int16)),
    ("INT64", np.array([[-(2**63), 2**63 - 1]], dtype=np.int64)),
    ("FP16", np.array([[0.5, -2]], dtype=np.float16)),
    ("FP32", np.array([[1.5, np.inf]], dtype=np.float32)),
    ("FP64", np.array([[np.pi, -0.0]], dtype=np.float64)),
    ("BYTES", np.array([[b"abc", b"\xff\x00"]], dtype=object)),
]


@pytest.mark.parametrize(("datatype", "array"), DTYPES, ids=[d for d, _ in DTYPES])
def test_infer_raw_every_datatype(
    client: grpcclient.InferenceServerClient, datatype: str, array: np.ndarray[Any, Any]
) -> None:
    result = client.infer(
        "echo",
        [_input("INPUT0", array, datatype)],
        request_id="r-1",
        parameters={"custom": 1.5, "flag": True},
        model_version="2",
    )
    response = result.get_response()
    assert (response.model_name, response.model_version, response.id) == ("echo", "2", "r-1")
    out = result.as_numpy("INPUT0")
    assert out.dtype == array.dtype
    assert out.shape == array.shape
    assert out.tolist() == array.tolist()


def test_infer_requested_outputs(client: grpcclient.InferenceServerClient) -> None:
    a = np.ones((1, 4), np.float32)
    b = np.arange(3, dtype=np.int32).reshape(1, 3)
    result = client.infer(
        "echo",
        [_input("A", a, "FP32"), _input("B", b, "INT32")],
        outputs=[grpcclient.InferRequestedOutput("B")],
    )
    assert [o.name for o in result.get_response().outputs] == ["B"]
    assert result.as_numpy("B").tolist() == b.tolist()
    assert result.as_numpy("A") is None


def test_infer_over_4_mib(client: grpcclient.InferenceServerClient) -> None:
    big = np.random.default_rng(0).random((1, 2_000_000), dtype=np.float32)  # 8 MB
    result = client.infer("echo", [_input("INPUT0", big, "FP32")])
    assert np.array_equal(result.as_numpy("INPUT0"), big)


def test_infer_over_the_limit_is_resource_exhausted(
    client: grpcclient.InferenceServerClient,
) -> None:
    too_big = np.zeros((1, GRPC_LIMIT // 4 + 16), dtype=np.float32)
    with pytest.raises(InferenceServerException) as info:
        client.infer("echo", [_input("INPUT0", too_big, "FP32")])
    assert _status(info) == "StatusCode.RESOURCE_EXHAUSTED"
    assert str(GRPC_LIMIT) in str(info.value.message())


@pytest.mark.parametrize(
    ("model", "status", "text"),
    [
        ("nope", "StatusCode.NOT_FOUND", "nope"),
        ("weights", "StatusCode.UNAVAILABLE", LOAD_FAILURE),
        ("broken", "StatusCode.INTERNAL", BROKEN_MESSAGE),
        ("liar", "StatusCode.INTERNAL", "OUTPUT0"),
    ],
)
def test_infer_errors(
    client: grpcclient.InferenceServerClient, model: str, status: str, text: str
) -> None:
    with pytest.raises(InferenceServerException) as info:
        client.infer(model, [_input("INPUT0", np.ones((1, 4), np.float32), "FP32")])
    assert _status(info) == status
    assert text in str(info.value.message())


def test_bad_requests_are_invalid_argument(client: grpcclient.InferenceServerClient) -> None:
    with pytest.raises(InferenceServerException) as info:
        client.infer(
            "echo",
            [_input("INPUT0", np.ones((1, 4), np.float32), "FP32")],
            outputs=[grpcclient.InferRequestedOutput("MISSING")],
        )
    assert _status(info) == "StatusCode.INVALID_ARGUMENT"
    assert "MISSING" in str(info.value.message())
    tensor = grpcclient.InferInput("INPUT0", [1, 4], "FP32")
    tensor.set_data_from_numpy(np.ones((1, 4), np.float32))
    tensor._input.shape[:] = [1, 5]  # declare more than the data holds
    with pytest.raises(InferenceServerException) as info:
        client.infer("echo", [tensor])
    assert _status(info) == "StatusCode.INVALID_ARGUMENT"
    assert "INPUT0" in str(info.value.message())


def test_a_bug_is_internal_without_its_details(
    client: grpcclient.InferenceServerClient, caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(InferenceServerException) as info:
        client.get_model_metadata("buggy")
    assert _status(info) == "StatusCode.INTERNAL"
    assert "KeyError" in str(info.value.message())
    assert BUG_SECRET not in str(info.value.message())
    assert BUG_SECRET in caplog.text  # logged, with its traceback, on the server


def test_the_server_survives_errors(client: grpcclient.InferenceServerClient) -> None:
    for _ in range(3):
        with pytest.raises(InferenceServerException):
            client.infer("broken", [_input("INPUT0", np.ones((1, 4), np.float32), "FP32")])
    assert client.is_server_live()


def test_stream_answers_in_order_and_echoes_ids(client: grpcclient.InferenceServerClient) -> None:
    answers: queue.Queue[tuple[Any, Any]] = queue.Queue()
    client.start_stream(callback=lambda result, error: answers.put((result, error)))
    try:
        # Earlier requests sleep longer: answers must still come back in request order.
        delays = [60.0, 30.0, 0.0, 10.0]
        for i, delay in enumerate(delays):
            data = np.full((1, 4), delay, np.float32)
            client.async_stream_infer("slow", [_input("INPUT0", data, "FP32")], request_id=str(i))
        client.async_stream_infer(
            "broken", [_input("INPUT0", np.ones((1, 4), np.float32), "FP32")], request_id="bad"
        )
        client.async_stream_infer(
            "echo", [_input("INPUT0", np.ones((1, 4), np.float32), "FP32")], request_id="after"
        )
        got = [answers.get(timeout=10) for _ in range(len(delays) + 2)]
    finally:
        client.stop_stream()
    for i, (result, error) in enumerate(got[: len(delays)]):
        assert error is None
        assert result.get_response().id == str(i)
        assert result.as_numpy("INPUT0")[0, 0] == delays[i]
    result, error = got[-2]
    assert result is None
    assert BROKEN_MESSAGE in str(error)
    result, error = got[-1]  # the stream went on after the error
    assert error is None
    assert result.get_response().id == "after"


def test_repository(client: grpcclient.InferenceServerClient) -> None:
    index = client.get_model_repository_index(as_json=True)["models"]
    states = {(m["name"], m.get("version", "")): m.get("state") for m in index}
    assert states[("echo", "1")] == "READY"
    assert any(name == "weights" for name, _v in states)
    client.unload_model("slow")
    assert client.is_model_ready("slow") is False
    client.load_model("slow")
    assert client.is_model_ready("slow")
    with pytest.raises(InferenceServerException) as info:
        client.load_model("nope")
    assert _status(info) == "StatusCode.NOT_FOUND"
    with pytest.raises(InferenceServerException) as info:
        client.load_model("slow", config='{"max_batch_size": 2}')
    assert _status(info) == "StatusCode.INVALID_ARGUMENT"
