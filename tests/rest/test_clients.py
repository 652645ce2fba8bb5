"""The REST transport driven over real HTTP by the real V2 clients: tritonclient and kserve."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import tritonclient.http as triton

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))
from echo_runtimes import BROKEN_MESSAGE, LOAD_FAILURE
from tritonclient.utils import InferenceServerException


@pytest.fixture(scope="module")
def client(base_url: str) -> Iterator[triton.InferenceServerClient]:
    c = triton.InferenceServerClient(base_url.removeprefix("http://"), network_timeout=10)
    try:
        yield c
    finally:
        c.close()


TENSORS: dict[str, npt.NDArray[Any]] = {
    "F": np.arange(8, dtype=np.float32).reshape(2, 4) / 3,
    "I": np.array([[-(2**40), 7]], dtype=np.int64),
    "U": np.array([1, 2, 255], dtype=np.uint8),
    "B": np.array([[True, False, True]]),
    "S": np.array([b"hello", b"", "wörld".encode()], dtype=np.object_),
    "H": np.array([1.5, -2.25], dtype=np.float16),
}
DATATYPES = {"F": "FP32", "I": "INT64", "U": "UINT8", "B": "BOOL", "S": "BYTES", "H": "FP16"}


def _inputs(names: list[str], binary: bool) -> list[triton.InferInput]:
    inputs = []
    for name in names:
        arr = TENSORS[name]
        tensor = triton.InferInput(name, list(arr.shape), DATATYPES[name])
        tensor.set_data_from_numpy(arr, binary_data=binary)
        inputs.append(tensor)
    return inputs


def _assert_same(got: np.ndarray | None, want: np.ndarray) -> None:
    assert got is not None
    assert got.dtype == want.dtype or (want.dtype == np.object_ and got.dtype == np.object_)
    assert got.shape == want.shape
    if want.dtype == np.object_:
        # tritonclient hands JSON BYTES back as str and binary BYTES as bytes.
        got = np.array([v.encode() if isinstance(v, str) else v for v in got.flat], dtype=object)
        want = want.reshape(-1)
    assert got.tolist() == want.tolist()


# --- health, metadata, config ------------------------------------------------------------------


def test_server_live_and_not_ready(client: triton.InferenceServerClient) -> None:
    assert client.is_server_live()
    # A model failed to load: strict readiness says no.
    assert not client.is_server_ready()


@pytest.mark.usefixtures("all_ready")
def test_server_ready_once_every_model_is(client: triton.InferenceServerClient) -> None:
    assert client.is_server_ready()


def test_model_ready(client: triton.InferenceServerClient) -> None:
    assert client.is_model_ready("echo")
    assert client.is_model_ready("echo", "1")
    assert not client.is_model_ready("weights")
    assert not client.is_model_ready("echo", "9")
    assert not client.is_model_ready("nope")


def test_server_metadata(client: triton.InferenceServerClient) -> None:
    meta = client.get_server_metadata()
    assert meta["name"] == "kernel"
    assert "model_repository" in meta["extensions"]
    assert "binary_tensor_data" in meta["extensions"]


@pytest.mark.parametrize("version", ["", "1"])
def test_model_metadata(client: triton.InferenceServerClient, version: str) -> None:
    meta = client.get_model_metadata("echo", version)
    assert meta["name"] == "echo"
    assert meta["versions"] == ["1", "2"]
    assert meta["inputs"] == [{"name": "INPUT0", "datatype": "FP32", "shape": [-1, 4]}]


@pytest.mark.parametrize("version", ["", "2"])
def test_model_config(client: triton.InferenceServerClient, version: str) -> None:
    config = client.get_model_config("echo", version)
    assert config["name"] == "echo"
    assert config["max_batch_size"] == 8
    assert config["backend"] == "test-echo"
    assert config["input"] == [{"name": "INPUT0", "data_type": "TYPE_FP32", "dims": [4]}]


def test_metadata_of_unknown_model_raises_404(client: triton.InferenceServerClient) -> None:
    with pytest.raises(InferenceServerException) as info:
        client.get_model_metadata("nope")
    assert info.value.status() == "404"
    assert "nope" in info.value.message()


# --- inference ---------------------------------------------------------------------------------


@pytest.mark.parametrize("binary_in", [True, False], ids=["binary-in", "json-in"])
@pytest.mark.parametrize("binary_out", [True, False], ids=["binary-out", "json-out"])
def test_infer_every_datatype(
    client: triton.InferenceServerClient, binary_in: bool, binary_out: bool
) -> None:
    # FP16 cannot travel as JSON (tritonclient refuses), so it only goes through binary.
    names = [n for n in TENSORS if binary_in or n != "H"]
    outputs = [triton.InferRequestedOutput(n, binary_data=binary_out or n == "H") for n in names]
    result = client.infer("echo", _inputs(names, binary_in), outputs=outputs, request_id="r-7")
    for name in names:
        _assert_same(result.as_numpy(name), TENSORS[name])
    response = result.get_response()
    assert response["id"] == "r-7"
    assert response["model_name"] == "echo"
    assert response["model_version"] == "2"


def test_nan_and_infinity_reach_a_json_client_as_nan(client: triton.InferenceServerClient) -> None:
    # JSON has neither: the answer writes null, which tritonclient reads back as NaN (binary
    # data keeps them exact, including the sign of infinity).
    x = np.array([[1.5, np.nan, np.inf, -np.inf]], dtype=np.float32)
    tensor = triton.InferInput("F", list(x.shape), "FP32")
    tensor.set_data_from_numpy(x, binary_data=True)
    for binary, want in ((False, [1.5, np.nan, np.nan, np.nan]), (True, x[0].tolist())):
        outputs = [triton.InferRequestedOutput("F", binary_data=binary)]
        got = client.infer("echo", [tensor], outputs=outputs).as_numpy("F")
        assert got is not None
        np.testing.assert_array_equal(got[0], np.array(want, dtype=np.float32))


def test_infer_without_outputs_returns_all_binary(client: triton.InferenceServerClient) -> None:
    # No outputs listed: tritonclient sets binary_data_output and reads every output as binary.
    result = client.infer("echo", _inputs(["F", "S"], True))
    _assert_same(result.as_numpy("F"), TENSORS["F"])
    _assert_same(result.as_numpy("S"), TENSORS["S"])
    assert all("binary_data_size" in o["parameters"] for o in result.get_response()["outputs"])


def test_infer_named_version(client: triton.InferenceServerClient) -> None:
    result = client.infer("echo", _inputs(["I"], True), model_version="1")
    assert result.get_response()["model_version"] == "1"
    _assert_same(result.as_numpy("I"), TENSORS["I"])


@pytest.mark.parametrize("algorithm", ["gzip", "deflate"])
def test_infer_compressed_request(client: triton.InferenceServerClient, algorithm: str) -> None:
    result = client.infer(
        "echo", _inputs(["F", "S"], True), request_compression_algorithm=algorithm
    )
    _assert_same(result.as_numpy("F"), TENSORS["F"])
    _assert_same(result.as_numpy("S"), TENSORS["S"])


def test_runtime_error_reaches_client(client: triton.InferenceServerClient) -> None:
    with pytest.raises(InferenceServerException) as info:
        client.infer("broken", _inputs(["F"], True))
    assert info.value.status() == "500"
    assert BROKEN_MESSAGE in info.value.message()


def test_unknown_output_is_400(client: triton.InferenceServerClient) -> None:
    with pytest.raises(InferenceServerException) as info:
        client.infer("echo", _inputs(["F"], True), outputs=[triton.InferRequestedOutput("zzz")])
    assert info.value.status() == "400"
    assert "zzz" in info.value.message()


# --- model repository --------------------------------------------------------------------------


def test_repository_index_load_unload(client: triton.InferenceServerClient) -> None:
    index = client.get_model_repository_index()
    assert {(e["name"], e.get("version", "")) for e in index} == {
        ("echo", "1"),
        ("echo", "2"),
        ("spare", ""),
        ("broken", ""),
        ("weights", ""),
        ("buggy", ""),
    }
    weights = next(e for e in index if e["name"] == "weights")
    assert weights["state"] == "UNAVAILABLE"
    assert LOAD_FAILURE in weights["reason"]

    client.unload_model("spare", unload_dependents=True)
    assert not client.is_model_ready("spare")
    with pytest.raises(InferenceServerException) as info:
        client.infer("spare", _inputs(["F"], True))
    assert info.value.status() == "404"
    unloaded = next(e for e in client.get_model_repository_index() if e["name"] == "spare")
    assert unloaded["state"] == "UNAVAILABLE"

    client.load_model("spare")
    assert client.is_model_ready("spare")
    _assert_same(client.infer("spare", _inputs(["F"], True)).as_numpy("F"), TENSORS["F"])


def test_failed_load_is_400_with_reason(client: triton.InferenceServerClient) -> None:
    with pytest.raises(InferenceServerException) as info:
        client.load_model("weights")
    assert info.value.status() == "400"
    assert LOAD_FAILURE in info.value.message()
    assert not client.is_model_ready("weights")


def test_load_unknown_model_is_404(client: triton.InferenceServerClient) -> None:
    with pytest.raises(InferenceServerException) as info:
        client.load_model("not-in-repo")
    assert info.value.status() == "404"
    assert "not-in-repo" in info.value.message()


# --- kserve SDK --------------------------------------------------------------------------------


def test_kserve_rest_client(all_ready: str) -> None:
    script = Path(__file__).with_name("rest_kserve_client.py")
    run = subprocess.run(
        [sys.executable, str(script), all_ready], capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr
    got = json.loads(run.stdout)
    assert got["live"] is True
    assert got["ready"] is True
    assert got["model_ready"] is True
    assert got["model_name"] == "echo"
    assert got["outputs"] == {"L": [[1, 2], [3, 4]], "N": [0.5, 1.5, -2.0], "W": ["a", "bc"]}
