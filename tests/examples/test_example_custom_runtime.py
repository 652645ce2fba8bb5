"""examples/custom_runtime: a runtime class in the model folder's ``models.py``, served by the
real ``kernel serve`` and called with the Triton clients over REST and gRPC."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from example_server import EXAMPLES, Server, serve
from tritonclient.utils import InferenceServerException

pytestmark = pytest.mark.e2e

READINGS = np.array([-40.0, 0.0, 36.6, 100.0])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serve(EXAMPLES / "custom_runtime" / "models", tmp_path_factory.mktemp("logs")) as running:
        yield running


def test_custom_runtime_over_rest(server: Server) -> None:
    client = httpclient.InferenceServerClient(server.http_url.removeprefix("http://"))
    assert client.is_model_ready("thermometer")
    tensor = httpclient.InferInput("celsius", [4], "FP64")
    tensor.set_data_from_numpy(READINGS, binary_data=False)
    result = client.infer("thermometer", [tensor])
    np.testing.assert_array_equal(result.as_numpy("fahrenheit"), [-40.0, 32.0, 97.9, 212.0])
    np.testing.assert_allclose(result.as_numpy("kelvin"), np.round(READINGS + 273.15, 1))
    metadata = client.get_model_metadata("thermometer")
    assert [i["name"] for i in metadata["inputs"]] == ["celsius"]


def test_custom_runtime_over_grpc(server: Server) -> None:
    client = grpcclient.InferenceServerClient(server.grpc_address)
    tensor = grpcclient.InferInput("celsius", [2], "FP64")
    tensor.set_data_from_numpy(np.array([20.0, -10.0]))
    result = client.infer("thermometer", [tensor])
    np.testing.assert_array_equal(result.as_numpy("fahrenheit"), [68.0, 14.0])


def test_custom_runtime_errors_are_400(server: Server) -> None:
    client = httpclient.InferenceServerClient(server.http_url.removeprefix("http://"))
    tensor = httpclient.InferInput("celsius", [1], "FP64")
    tensor.set_data_from_numpy(np.array([-300.0]))
    with pytest.raises(InferenceServerException, match="below absolute zero") as caught:
        client.infer("thermometer", [tensor])
    assert caught.value.status() == "400"


def test_the_readme_answer_is_what_it_serves(server: Server) -> None:
    readme = (Path(EXAMPLES) / "custom_runtime" / "README.md").read_text()
    client = httpclient.InferenceServerClient(server.http_url.removeprefix("http://"))
    tensor = httpclient.InferInput("celsius", [3], "FP64")
    tensor.set_data_from_numpy(np.array([-40.0, 0.0, 36.6]), binary_data=False)
    result = client.infer("thermometer", [tensor])
    fahrenheit = ", ".join(str(v) for v in result.as_numpy("fahrenheit").tolist())
    kelvin = ", ".join(str(v) for v in result.as_numpy("kelvin").tolist())
    assert f"fahrenheit [{fahrenheit}], kelvin [{kelvin}]" in readme
