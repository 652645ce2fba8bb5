"""Content types and typed runtimes through the real ``kernel serve``: a DataFrame (int, float,
bool, string, datetime and categorical columns with missing values) sent by tritonclient over
HTTP JSON, the HTTP binary extension and gRPC comes back from a typed runtime as an equal frame
with the same dtypes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from e2e_server import Server, serve
from tritonclient.utils import InferenceServerException

from kernel.codecs import decode_response, encode_request
from protocol.messages import InferenceRequest, InferenceResponse, ResponseOutput

pytestmark = pytest.mark.e2e

MODELS = '''
from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from kernel import Runtime


class Enrich(Runtime):
    """A DataFrame in, the same frame plus a column out."""

    async def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        return frame.assign(doubled=frame["count"] * 2)


class Scale(Runtime):
    """Inputs by name: an FP32 array and a list of str."""

    async def predict(
        self, x: npt.NDArray[np.float32], words: list[str]
    ) -> tuple[npt.NDArray[np.float32], list[str]]:
        return x * np.float32(2), [w.upper() for w in words]
'''


def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "count": pd.array([1, None, 3], dtype="Int64"),
            "i": np.array([7, -8, 9], dtype=np.int32),
            "score": [0.5, np.nan, 2.25],
            "flag": [True, False, True],
            "name": ["ada", None, "grace ☃"],
            "at": pd.to_datetime(
                ["2024-01-01T08:00:00.000001", None, "2024-12-31"], format="ISO8601"
            ),
            "zone": pd.to_datetime(
                ["2024-03-31 01:30", "2024-07-01", None], format="ISO8601"
            ).tz_localize("Europe/Paris"),
            "kind": pd.Categorical(["b", None, "a"], categories=["a", "b", "c"], ordered=True),
        }
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("typed")
    for name, cls in (("enrich", "Enrich"), ("scale", "Scale")):
        (root / name).mkdir()
        (root / name / "models.py").write_text(MODELS)
        (root / name / "model-settings.json").write_text(
            json.dumps({"implementation": f"models.{cls}"})
        )
    with serve(root, tmp_path_factory.mktemp("logs"), ["enrich", "scale"]) as running:
        yield running


def _http_call(
    server: Server, model: str, request: InferenceRequest, outputs: list[str], binary: bool
) -> InferenceResponse:
    client = httpclient.InferenceServerClient(url=server.http_address)
    try:
        inputs = []
        for item in request.inputs:
            tensor = httpclient.InferInput(item.name, item.shape, item.datatype)
            tensor.set_data_from_numpy(np.asarray(item.data), binary_data=binary)
            inputs.append(tensor)
        wanted = [httpclient.InferRequestedOutput(n, binary_data=binary) for n in outputs]
        result = client.infer(
            model, inputs, outputs=wanted, parameters=dict(request.parameters or {})
        )
        body = result.get_response()
        if not binary:  # a parameters object would make Triton's C++ client read binary data
            assert all("parameters" not in o for o in body["outputs"])
        return InferenceResponse(
            model_name=body["model_name"],
            outputs=[
                ResponseOutput(
                    o["name"],
                    o["shape"],
                    o["datatype"],
                    {k: v for k, v in o.get("parameters", {}).items() if k != "binary_data_size"},
                    result.as_numpy(o["name"]),
                )
                for o in body["outputs"]
            ],
            parameters=body.get("parameters", {}),
        )
    finally:
        client.close()


def _grpc_params(params: Any) -> dict[str, Any]:
    return {k: getattr(v, v.WhichOneof("parameter_choice")) for k, v in params.items()}


def _grpc_call(
    server: Server, model: str, request: InferenceRequest, outputs: list[str]
) -> InferenceResponse:
    client = grpcclient.InferenceServerClient(url=server.grpc_address)
    try:
        inputs = []
        for item in request.inputs:
            tensor = grpcclient.InferInput(item.name, item.shape, item.datatype)
            tensor.set_data_from_numpy(np.asarray(item.data))
            inputs.append(tensor)
        wanted = [grpcclient.InferRequestedOutput(n) for n in outputs]
        result = client.infer(
            model, inputs, outputs=wanted, parameters=dict(request.parameters or {})
        )
        message = result.get_response()
        return InferenceResponse(
            model_name=message.model_name,
            outputs=[
                ResponseOutput(
                    o.name,
                    list(o.shape),
                    o.datatype,
                    _grpc_params(o.parameters),
                    result.as_numpy(o.name),
                )
                for o in message.outputs
            ],
            parameters=_grpc_params(message.parameters),
        )
    finally:
        client.close()


def call(
    server: Server, wire: str, model: str, request: InferenceRequest, outputs: list[str]
) -> InferenceResponse:
    if wire == "grpc":
        return _grpc_call(server, model, request, outputs)
    return _http_call(server, model, request, outputs, binary=wire == "binary")


@pytest.mark.parametrize("wire", ["json", "binary", "grpc"])
def test_dataframe_round_trip_through_a_typed_runtime(server: Server, wire: str) -> None:
    sent = frame()
    columns = [*sent.columns, "doubled"]
    response = call(server, wire, "enrich", encode_request(sent), columns)
    assert response.parameters["content_type"] == "pd"  # type: ignore[index]
    got = decode_response(response)
    pd.testing.assert_frame_equal(got, sent.assign(doubled=sent["count"] * 2))
    if wire != "json":  # binary and gRPC outputs carry their own content type
        kinds = {o.name: (o.parameters or {}).get("content_type") for o in response.outputs}
        assert kinds["name"] == "str"
        assert kinds["at"] == "datetime"


@pytest.mark.parametrize("wire", ["json", "binary", "grpc"])
def test_inputs_by_name(server: Server, wire: str) -> None:
    x = np.array([[1.5, 2.0]], dtype=np.float32)
    request = encode_request({"x": x, "words": ["a", "b"]})
    got = decode_response(call(server, wire, "scale", request, ["output-0", "output-1"]))
    np.testing.assert_array_equal(got["output-0"], x * 2)
    assert got["output-0"].dtype == np.float32
    assert got["output-1"] == ["A", "B"]


def test_metadata_comes_from_the_signature(server: Server) -> None:
    client = httpclient.InferenceServerClient(url=server.http_address)
    try:
        meta = client.get_model_metadata("scale")
    finally:
        client.close()
    assert [(i["name"], i["datatype"]) for i in meta["inputs"]] == [
        ("x", "FP32"),
        ("words", "BYTES"),
    ]
    assert [o["name"] for o in meta["outputs"]] == ["output-0", "output-1"]


def test_missing_input_and_unknown_content_type_are_400s(server: Server) -> None:
    client = httpclient.InferenceServerClient(url=server.http_address)
    try:
        x = httpclient.InferInput("x", [1], "FP32")
        x.set_data_from_numpy(np.array([1], dtype=np.float32))
        with pytest.raises(InferenceServerException) as info:
            client.infer("scale", [x])
        assert info.value.status() == "400"
        assert "missing input(s) 'words'" in info.value.message()
        with pytest.raises(InferenceServerException) as info:
            client.infer("enrich", [x], parameters={"content_type": "arrow"})
        assert info.value.status() == "400"
        assert "unknown content type 'arrow'" in info.value.message()
        assert "known content types: base64, datetime, dict, np, pd, str" in info.value.message()
    finally:
        client.close()


def test_grpc_unknown_content_type_is_invalid_argument(server: Server) -> None:
    client = grpcclient.InferenceServerClient(url=server.grpc_address)
    try:
        x = grpcclient.InferInput("x", [1], "FP32")
        x.set_data_from_numpy(np.array([1], dtype=np.float32))
        with pytest.raises(InferenceServerException) as info:
            client.infer("scale", [x], parameters={"content_type": "arrow"})
        assert info.value.status() == "StatusCode.INVALID_ARGUMENT"
        assert "unknown content type 'arrow'" in info.value.message()
    finally:
        client.close()
