"""protocol.rest: inference bodies (JSON and binary extension) and every other JSON message."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import numpy as np
import pytest
import tritonclient.http as triton_http
from tritonclient.http._utils import _get_inference_request

from protocol import (
    DATATYPES,
    InferenceRequest,
    InferenceResponse,
    ModelConfig,
    ModelMetadataResponse,
    ProtocolError,
    RepositoryIndexEntry,
    RepositoryIndexRequest,
    RequestInput,
    RequestOutput,
    ResponseOutput,
    input_from_numpy,
    output_from_numpy,
)
from protocol.rest import (
    decode_infer_request,
    decode_infer_response,
    decode_json,
    encode_infer_request,
    encode_infer_response,
    encode_json,
)

JSON_TYPES = [name for name, row in DATATYPES.items() if row.json is not None]
# Every datatype travels as binary; all but BF16 as JSON too.
FORMS = [(name, True) for name in DATATYPES] + [(name, False) for name in JSON_TYPES]


def sample(datatype: str, shape: tuple[int, ...]) -> np.ndarray[Any, Any]:
    row = DATATYPES[datatype]
    count = int(np.prod(shape, dtype=np.int64))
    if datatype == "BYTES":
        flat = np.empty(count, dtype=object)
        flat[:] = [f"v{i}é".encode() for i in range(count)]
        out: np.ndarray[Any, Any] = flat.reshape(shape)
        return out
    if datatype == "BOOL":
        return np.asarray(np.arange(count) % 2 == 0).reshape(shape)
    return (np.arange(count) % 100).astype(row.dtype).reshape(shape)


def header(body: bytes, length: int | None) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(body[:length] if length is not None else body)
    return parsed


# --- requests ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("datatype", "binary"), FORMS)
@pytest.mark.parametrize("shape", [(), (0,), (3,), (2, 3), (1, 0, 2)])
def test_request_round_trip(datatype: str, shape: tuple[int, ...], binary: bool) -> None:
    array = sample(datatype, shape)
    request = InferenceRequest(inputs=[input_from_numpy("x", array)], id="7")
    body, length = encode_infer_request(request, binary=binary)
    assert (length is not None) == binary
    sent = header(body, length)["inputs"][0]
    assert ("data" in sent) != binary
    decoded = decode_infer_request(body, length)
    (inp,) = decoded.inputs
    assert (inp.name, inp.shape, inp.datatype, decoded.id) == ("x", list(shape), datatype, "7")
    assert inp.data.dtype == DATATYPES[datatype].dtype
    assert inp.data.shape == shape
    np.testing.assert_array_equal(inp.data, array)


@pytest.mark.parametrize("datatype", JSON_TYPES)
def test_request_nested_json_data(datatype: str) -> None:
    array = sample(datatype, (2, 2, 3))
    nested = array.tolist()
    if datatype == "BYTES":
        nested = [[[v.decode() for v in row] for row in plane] for plane in nested]
    body = json.dumps(
        {"inputs": [{"name": "x", "shape": [2, 2, 3], "datatype": datatype, "data": nested}]}
    ).encode()
    np.testing.assert_array_equal(decode_infer_request(body, None).inputs[0].data, array)


def test_binary_inputs_are_views_of_the_body() -> None:
    array = np.arange(1_000_000, dtype=np.float32).reshape(1000, 1000)
    body, length = encode_infer_request(InferenceRequest(inputs=[input_from_numpy("x", array)]))
    data = decode_infer_request(body, length).inputs[0].data
    assert np.shares_memory(data, np.frombuffer(body, np.uint8))
    assert not data.flags.writeable
    np.testing.assert_array_equal(data, array)


def test_mixed_binary_and_json_inputs_in_one_body() -> None:
    head = {
        "id": "",
        "model_name": "ignored",
        "inputs": [
            {"name": "a", "shape": [2], "datatype": "INT32", "parameters": {"binary_data_size": 8}},
            {"name": "b", "shape": [2], "datatype": "FP64", "data": [0.5, 1.5]},
            {"name": "c", "shape": [1], "datatype": "BYTES", "parameters": {"binary_data_size": 6}},
            {"name": "d", "shape": [0], "datatype": "FP32", "parameters": {"binary_data_size": 0}},
        ],
        "outputs": [{"name": "y", "parameters": {"binary_data": True}}],
    }
    head_bytes = json.dumps(head).encode()
    body = head_bytes + np.array([1, -2], "<i4").tobytes() + b"\x02\0\0\0hi"
    request = decode_infer_request(body, len(head_bytes))
    a, b, c, d = (i.data for i in request.inputs)
    assert a.tolist() == [1, -2]
    assert b.tolist() == [0.5, 1.5]
    assert c.tolist() == [b"hi"]
    assert d.shape == (0,)
    assert request.id == ""
    assert request.outputs == [RequestOutput("y", {"binary_data": True})]


def test_header_length_equal_to_body_is_all_json() -> None:
    body = b'{"inputs":[{"name":"x","shape":[1],"datatype":"BOOL","data":[true]}]}'
    assert decode_infer_request(body, len(body)).inputs[0].data.tolist() == [True]


def test_tritonclient_request_bodies_decode() -> None:
    x = triton_http.InferInput("x", [2, 2], "FP16")
    x.set_data_from_numpy(np.ones((2, 2), np.float16), binary_data=True)
    s = triton_http.InferInput("s", [2], "BYTES")
    s.set_data_from_numpy(np.array([b"a", "é".encode()], dtype=object), binary_data=False)
    b = triton_http.InferInput("b", [3], "BOOL")
    b.set_data_from_numpy(np.array([True, False, True]), binary_data=True)
    body, length = _get_inference_request(
        [x, s, b], "id1", [triton_http.InferRequestedOutput("y")], 0, False, False, 0, None, None
    )
    request = decode_infer_request(body, length)
    assert request.inputs[0].data.dtype == np.float16
    assert request.inputs[1].data.tolist() == [b"a", "é".encode()]
    assert request.inputs[2].data.tolist() == [True, False, True]
    assert request.outputs == [RequestOutput("y", {"binary_data": True})]


# --- responses ---------------------------------------------------------------------------------


def _response(*outputs: Any) -> InferenceResponse:
    return InferenceResponse(model_name="m", model_version="1", id="r", outputs=list(outputs))


def _request(parameters: dict[str, Any] | None = None, **outputs: dict[str, Any] | None) -> Any:
    wanted = [RequestOutput(name, params or msgspec.UNSET) for name, params in outputs.items()]
    return InferenceRequest(
        inputs=[],
        parameters=parameters if parameters is not None else msgspec.UNSET,
        outputs=wanted or msgspec.UNSET,
    )


@pytest.mark.parametrize(("datatype", "binary"), FORMS)
@pytest.mark.parametrize("shape", [(), (0,), (2, 3)])
def test_response_round_trip(datatype: str, shape: tuple[int, ...], binary: bool) -> None:
    array = sample(datatype, shape)
    response = _response(output_from_numpy("y", array))
    body, length = encode_infer_response(response, _request({"binary_data_output": binary}))
    sent = header(body, length)["outputs"][0]
    assert ("parameters" in sent) == binary
    decoded = decode_infer_response(body, length)
    assert (decoded.model_name, decoded.model_version, decoded.id) == ("m", "1", "r")
    np.testing.assert_array_equal(decoded.outputs[0].data, array)
    assert decoded.outputs[0].data.dtype == DATATYPES[datatype].dtype


def test_binary_choice_per_output_overrides_request_default() -> None:
    response = _response(
        output_from_numpy("a", np.arange(3, dtype=np.int32), {"content_type": "np"}),
        output_from_numpy("b", np.arange(2, dtype=np.float32), {"content_type": "np"}),
        output_from_numpy("c", np.array(["x"]), {"content_type": "str"}),
    )
    request = _request({"binary_data_output": True}, a={"binary_data": False}, b={}, c=None)
    body, length = encode_infer_response(response, request)
    a, b, c = header(body, length)["outputs"]
    # JSON outputs carry no parameters at all (the Triton C++ client reads them as binary).
    assert a == {"name": "a", "shape": [3], "datatype": "INT32", "data": [0, 1, 2]}
    assert b["parameters"] == {"content_type": "np", "binary_data_size": 8}
    assert c["parameters"] == {"content_type": "str", "binary_data_size": 5}
    assert length is not None
    assert body[length:] == np.arange(2, dtype="<f4").tobytes() + b"\x01\0\0\0x"


def test_all_json_response_has_no_header_length() -> None:
    response = _response(output_from_numpy("y", np.array([[1.5, 2.5]], np.float32)))
    for request in (None, _request(), _request({"binary_data_output": False})):
        body, length = encode_infer_response(response, request)
        assert length is None
        assert header(body, None)["outputs"][0]["data"] == [1.5, 2.5]
    body, length = encode_infer_response(response, _request(y={"binary_data": True}))
    assert length is not None


def test_tritonclient_reads_our_responses() -> None:
    response = _response(
        output_from_numpy("f", np.arange(6, dtype=np.float32).reshape(2, 3)),
        output_from_numpy("s", np.array([b"\xff\x00", b"ok"], dtype=object)),
        output_from_numpy("j", np.array([[True, False]])),
    )
    request = _request(f={"binary_data": True}, s={"binary_data": True}, j={"binary_data": False})
    body, length = encode_infer_response(response, request)
    result = triton_http.InferResult.from_response_body(body, header_length=length)
    np.testing.assert_array_equal(result.as_numpy("f"), np.arange(6).reshape(2, 3))
    assert result.as_numpy("s").tolist() == [b"\xff\x00", b"ok"]
    assert result.as_numpy("j").tolist() == [[True, False]]


def test_response_errors_name_the_output() -> None:
    bad = _response(output_from_numpy("y", np.array([b"\xff"], dtype=object)))
    with pytest.raises(ProtocolError, match="output 'y': BYTES data is not valid UTF-8"):
        encode_infer_response(bad, None)
    with pytest.raises(ProtocolError, match="output 'y': has no data"):
        encode_infer_response(_response(ResponseOutput("y", [4], "FP64")), None)
    mismatch = _response(ResponseOutput("y", [4], "FP64", data=np.zeros(3)))
    with pytest.raises(ProtocolError, match=r"output 'y': shape \[4\] needs 4 elements, got 3"):
        encode_infer_response(mismatch, _request({"binary_data_output": True}))


# --- other messages ----------------------------------------------------------------------------


def test_json_messages_round_trip() -> None:
    metadata = ModelMetadataResponse(name="m", platform="p", versions=["1"])
    assert decode_json(encode_json(metadata), ModelMetadataResponse) == metadata
    index = [RepositoryIndexEntry("m", "1", "READY")]
    assert decode_json(encode_json(index), list[RepositoryIndexEntry]) == index
    config = ModelConfig(name="m", max_batch_size=8)
    assert decode_json(encode_json(config), ModelConfig) == config


def test_decode_json_empty_body_and_unknown_keys() -> None:
    assert decode_json(b"", RepositoryIndexRequest) == RepositoryIndexRequest()
    assert decode_json(b'{"ready": true, "x": 1}', RepositoryIndexRequest).ready is True


def test_decode_json_errors_keep_the_path() -> None:
    with pytest.raises(ProtocolError, match=r"Expected `bool`, got `str` - at `\$.ready`"):
        decode_json(b'{"ready": "yes"}', RepositoryIndexRequest)
    with pytest.raises(ProtocolError, match=r"invalid ModelConfig: .*malformed"):
        decode_json(b"{]", ModelConfig)


def test_encode_json_refuses_arrays() -> None:
    request = InferenceRequest(inputs=[RequestInput("x", [1], "FP32", data=np.zeros(1))])
    with pytest.raises(ProtocolError, match="cannot encode InferenceRequest as JSON"):
        encode_json(request)


def test_reencoding_a_decoded_binary_request_as_json_drops_the_stale_size() -> None:
    request = InferenceRequest(inputs=[input_from_numpy("x", np.arange(3, dtype=np.int16))])
    decoded = decode_infer_request(*encode_infer_request(request, binary=True))
    assert decoded.inputs[0].parameters == {"binary_data_size": 6}
    body, length = encode_infer_request(decoded, binary=False)
    assert "parameters" not in header(body, length)["inputs"][0]
    assert decode_infer_request(body, length).inputs[0].data.tolist() == [0, 1, 2]
