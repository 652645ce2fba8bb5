"""examples/typed_runtime: a runtime whose ``predict`` takes ``list[str]`` and an int64 array
and returns a tuple, served by the real ``kernel serve``, called over REST and gRPC."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import httpx
import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from example_server import EXAMPLES, Server, serve

from kernel.codecs import decode_response
from protocol.rest import decode_infer_response

pytestmark = pytest.mark.e2e

EXAMPLE = EXAMPLES / "typed_runtime"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serve(EXAMPLE / "models", tmp_path_factory.mktemp("logs")) as running:
        yield running


def _readme_request() -> dict[str, object]:
    readme = (EXAMPLE / "README.md").read_text()
    body = re.search(r"-d '(\{.*?\})'", readme, re.DOTALL)
    assert body is not None
    return dict(json.loads(body.group(1)))


def test_typed_runtime_over_rest(server: Server) -> None:
    answer = httpx.post(
        f"{server.http_url}/v2/models/greeter/infer", json=_readme_request(), timeout=10
    )
    assert answer.status_code == 200, answer.text
    outputs = {o["name"]: o["data"] for o in answer.json()["outputs"]}
    assert outputs == {"greeting": ["Hello, Ada!", "Hello, Alan!"], "months": [432, 492]}
    assert (
        'greeting ["Hello, Ada!", "Hello, Alan!"], months [432, 492]'
        in (EXAMPLE / "README.md").read_text()
    )
    # The client rebuilds the runtime's own values from the recorded content types.
    values = decode_response(decode_infer_response(answer.content))
    assert values["greeting"] == ["Hello, Ada!", "Hello, Alan!"]
    np.testing.assert_array_equal(values["months"], [432, 492])


def test_typed_runtime_over_grpc(server: Server) -> None:
    client = grpcclient.InferenceServerClient(server.grpc_address)
    name = grpcclient.InferInput("name", [1], "BYTES")
    name.set_data_from_numpy(np.array(["Grace"], dtype=object))
    age = grpcclient.InferInput("age", [1], "INT64")
    age.set_data_from_numpy(np.array([85], dtype=np.int64))
    result = client.infer("greeter", [name, age])
    assert result.as_numpy("greeting").tolist() == [b"Hello, Grace!"]
    assert result.as_numpy("months").tolist() == [1020]


def test_typed_runtime_metadata_and_missing_input(server: Server) -> None:
    metadata = httpx.get(f"{server.http_url}/v2/models/greeter", timeout=10).json()
    assert [(i["name"], i["datatype"]) for i in metadata["inputs"]] == [
        ("name", "BYTES"),
        ("age", "INT64"),
    ]
    body = {"inputs": [{"name": "name", "shape": [1], "datatype": "BYTES", "data": ["Ada"]}]}
    answer = httpx.post(f"{server.http_url}/v2/models/greeter/infer", json=body, timeout=10)
    assert answer.status_code == 400
    assert "'age'" in answer.json()["error"]
