"""ModelInferRequest / ModelInferResponse bytes against the protobuf classes tritonclient ships."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from tritonclient.grpc import service_pb2 as tpb

from protocol.datatypes import DATATYPES
from protocol.errors import ProtocolError
from protocol.grpc import (
    decode_infer_request,
    encode_infer_response,
    encode_stream_response,
    infer_request_from_proto,
    infer_request_to_proto,
    infer_response_from_proto,
    infer_response_to_proto,
    pb,
    read_model_infer_request,
)
from protocol.messages import InferenceResponse, ResponseOutput
from protocol.tensors import encode_bytes_elements

SHAPE = [2, 3]

#: datatype -> a (2, 3) example holding the extremes of the type.
SAMPLES: dict[str, np.ndarray[Any, Any]] = {
    "BOOL": np.array([[True, False, True], [False, False, True]]),
    "UINT8": np.array([[0, 1, 255], [7, 128, 3]], dtype=np.uint8),
    "UINT16": np.array([[0, 1, 65535], [7, 128, 3]], dtype=np.uint16),
    "UINT32": np.array([[0, 1, 2**32 - 1], [7, 128, 3]], dtype=np.uint32),
    "UINT64": np.array([[0, 1, 2**64 - 1], [7, 2**63, 3]], dtype=np.uint64),
    "INT8": np.array([[-128, 0, 127], [-1, 5, 3]], dtype=np.int8),
    "INT16": np.array([[-32768, 0, 32767], [-1, 5, 3]], dtype=np.int16),
    "INT32": np.array([[-(2**31), 0, 2**31 - 1], [-1, 300, 3]], dtype=np.int32),
    "INT64": np.array([[-(2**63), 0, 2**63 - 1], [-1, 300, 3]], dtype=np.int64),
    "FP16": np.array([[0.5, -1.0, 65504.0], [1e-3, 2, 3]], dtype=np.float16),
    "FP32": np.array([[0.5, -1.0, 3.4e38], [np.inf, -0.0, 3]], dtype=np.float32),
    "FP64": np.array([[0.5, -1.0, 1e308], [np.pi, -0.0, 3]], dtype=np.float64),
    "BYTES": np.array([[b"", b"a", b"\xff\x00"], [b"xyz" * 50, "é".encode(), b"z"]], dtype=object),
}
if "BF16" in DATATYPES:
    SAMPLES["BF16"] = np.array([[0.5, -1.0, 2.0], [4, 8, 16]], dtype=DATATYPES["BF16"].dtype)

TYPED = [name for name in SAMPLES if DATATYPES[name].contents_field is not None]


def _raw(datatype: str, array: np.ndarray[Any, Any]) -> bytes:
    if datatype == "BYTES":
        return encode_bytes_elements(array)
    return np.ascontiguousarray(array, dtype=DATATYPES[datatype].dtype).tobytes()


def _input(msg: tpb.ModelInferRequest, name: str, datatype: str, shape: list[int]) -> Any:
    tensor = msg.inputs.add()
    tensor.name = name
    tensor.datatype = datatype
    tensor.shape.extend(shape)
    return tensor


def _assert_equal(actual: np.ndarray[Any, Any], expected: np.ndarray[Any, Any]) -> None:
    assert actual.shape == expected.shape
    if expected.dtype == object:
        assert list(actual.reshape(-1)) == list(expected.reshape(-1))
    else:
        assert actual.dtype == expected.dtype
        assert actual.tobytes() == expected.tobytes()


@pytest.mark.parametrize("datatype", list(SAMPLES))
def test_raw_input_of_every_datatype(datatype: str) -> None:
    msg = tpb.ModelInferRequest(model_name="m", model_version="2", id="r1")
    _input(msg, "x", datatype, SHAPE)
    msg.raw_input_contents.append(_raw(datatype, SAMPLES[datatype]))
    call = read_model_infer_request(msg.SerializeToString())
    assert (call.model_name, call.model_version, call.request.id) == ("m", "2", "r1")
    (tensor,) = call.request.inputs
    assert (tensor.name, tensor.datatype, tensor.shape) == ("x", datatype, SHAPE)
    _assert_equal(tensor.data, SAMPLES[datatype])


@pytest.mark.parametrize("datatype", TYPED)
def test_typed_input_of_every_datatype(datatype: str) -> None:
    msg = tpb.ModelInferRequest(model_name="m")
    tensor = _input(msg, "x", datatype, SHAPE)
    field = DATATYPES[datatype].contents_field
    assert field is not None
    getattr(tensor.contents, field).extend(SAMPLES[datatype].reshape(-1).tolist())
    request = decode_infer_request(msg.SerializeToString())
    _assert_equal(request.inputs[0].data, SAMPLES[datatype])


def test_raw_input_is_a_zero_copy_view() -> None:
    data = np.arange(1000, dtype=np.float32)
    msg = tpb.ModelInferRequest(model_name="m")
    _input(msg, "x", "FP32", [1000])
    msg.raw_input_contents.append(data.tobytes())
    body = msg.SerializeToString()
    array = decode_infer_request(body).inputs[0].data
    assert not array.flags.owndata
    assert np.shares_memory(array, np.frombuffer(body, dtype=np.uint8))


def test_parameters_of_every_kind_and_unknown_ones_are_kept_as_values() -> None:
    msg = tpb.ModelInferRequest(model_name="m")
    msg.parameters["triton_enable_empty_final_response"].bool_param = True
    msg.parameters["priority"].uint64_param = 2**64 - 1
    msg.parameters["neg"].int64_param = -(2**63)
    msg.parameters["ratio"].double_param = 0.25
    msg.parameters["text"].string_param = "héllo"
    tensor = _input(msg, "x", "INT32", [1])
    tensor.parameters["binary_data_size"].int64_param = 4  # kserve sends it with raw contents
    out = msg.outputs.add()
    out.name = "y"
    out.parameters["classification"].int64_param = 2
    msg.raw_input_contents.append(np.int32(7).tobytes())
    request = decode_infer_request(msg.SerializeToString())
    assert request.parameters == {
        "triton_enable_empty_final_response": True,
        "priority": 2**64 - 1,
        "neg": -(2**63),
        "ratio": 0.25,
        "text": "héllo",
    }
    assert request.inputs[0].parameters == {"binary_data_size": 4}
    assert request.inputs[0].data.tolist() == [7]
    assert isinstance(request.outputs, list)
    assert request.outputs[0].name == "y"


@pytest.mark.parametrize("datatype", list(SAMPLES))
def test_response_decodes_with_tritonclient_classes(datatype: str) -> None:
    response = InferenceResponse(
        model_name="m",
        model_version="3",
        id="abc",
        parameters={"flag": True, "n": -3, "big": 2**64 - 1, "f": 1.5, "s": "x"},
        outputs=[
            ResponseOutput(name="y", shape=SHAPE, datatype=datatype, data=SAMPLES[datatype]),
            ResponseOutput(name="z", shape=[0], datatype="FP32", data=np.zeros(0, np.float32)),
        ],
    )
    msg = tpb.ModelInferResponse.FromString(encode_infer_response(response))
    assert (msg.model_name, msg.model_version, msg.id) == ("m", "3", "abc")
    params = {k: getattr(v, v.WhichOneof("parameter_choice")) for k, v in msg.parameters.items()}
    assert params == {"flag": True, "n": -3, "big": 2**64 - 1, "f": 1.5, "s": "x"}
    assert [(o.name, o.datatype, list(o.shape)) for o in msg.outputs] == [
        ("y", datatype, SHAPE),
        ("z", "FP32", [0]),
    ]
    assert not msg.outputs[0].HasField("contents")  # raw only: typed outputs break clients
    assert msg.raw_output_contents[0] == _raw(datatype, SAMPLES[datatype])
    assert msg.raw_output_contents[1] == b""


def test_response_outputs_follow_the_request_dtype_rules() -> None:
    # An int64 array declared INT32 is cast the way REST casts it; a float one is refused.
    ok = InferenceResponse(
        model_name="m",
        outputs=[ResponseOutput(name="y", shape=[2], datatype="INT32", data=np.array([1, 2]))],
    )
    msg = tpb.ModelInferResponse.FromString(encode_infer_response(ok))
    assert np.frombuffer(msg.raw_output_contents[0], np.int32).tolist() == [1, 2]
    bad = InferenceResponse(
        model_name="m",
        outputs=[ResponseOutput(name="y", shape=[3], datatype="INT32", data=np.array([1, 2]))],
    )
    with pytest.raises(ProtocolError, match="output 'y'"):
        encode_infer_response(bad)


def test_stream_response_carries_error_and_id() -> None:
    body = encode_stream_response(error="boom", request_id="17", model_name="m")
    msg = tpb.ModelStreamInferResponse.FromString(body)
    assert msg.error_message == "boom"
    assert (msg.infer_response.id, msg.infer_response.model_name) == ("17", "m")
    inner = encode_infer_response(InferenceResponse(model_name="m", id="9", outputs=[]))
    msg = tpb.ModelStreamInferResponse.FromString(encode_stream_response(inner))
    assert msg.error_message == ""
    assert msg.infer_response.id == "9"


def test_message_level_converters_round_trip() -> None:
    array = np.arange(6, dtype=np.int64).reshape(2, 3)
    response = InferenceResponse(
        model_name="m",
        id="1",
        outputs=[ResponseOutput(name="y", shape=[2, 3], datatype="INT64", data=array)],
    )
    proto = infer_response_to_proto(response)
    assert isinstance(proto, pb.ModelInferResponse)
    back = infer_response_from_proto(proto)
    assert back.id == "1"
    _assert_equal(back.outputs[0].data, array)

    request = decode_infer_request(_request_with("x", "INT64", array).SerializeToString())
    as_proto = infer_request_to_proto(request, "m", "4")
    theirs = tpb.ModelInferRequest.FromString(bytes(as_proto))
    assert (theirs.model_name, theirs.model_version) == ("m", "4")
    assert theirs.raw_input_contents[0] == array.tobytes()
    call = infer_request_from_proto(as_proto)
    _assert_equal(call.request.inputs[0].data, array)


def _request_with(name: str, datatype: str, array: np.ndarray[Any, Any]) -> tpb.ModelInferRequest:
    msg = tpb.ModelInferRequest(model_name="m")
    _input(msg, name, datatype, list(array.shape))
    msg.raw_input_contents.append(_raw(datatype, array))
    return msg


# --- errors ------------------------------------------------------------------------------------


def _error(msg: tpb.ModelInferRequest) -> str:
    with pytest.raises(ProtocolError) as info:
        decode_infer_request(msg.SerializeToString())
    return str(info.value)


def test_wrong_typed_field_names_the_tensor() -> None:
    msg = tpb.ModelInferRequest(model_name="m")
    _input(msg, "pixels", "FP32", [2]).contents.int_contents.extend([1, 2])
    assert "pixels" in _error(msg)
    assert "fp32_contents" in _error(msg)


@pytest.mark.parametrize("datatype", ["FP16", "BF16"])
def test_half_floats_are_raw_only(datatype: str) -> None:
    if datatype not in DATATYPES:
        pytest.skip("ml_dtypes not installed")
    msg = tpb.ModelInferRequest(model_name="m")
    _input(msg, "h", datatype, [1]).contents.fp32_contents.append(1.0)
    assert "raw" in _error(msg)


def test_raw_and_typed_mixed_is_refused() -> None:
    msg = tpb.ModelInferRequest(model_name="m")
    _input(msg, "a", "INT32", [1])
    _input(msg, "b", "INT32", [1]).contents.int_contents.append(1)
    msg.raw_input_contents.append(b"\0\0\0\0")
    assert "2 inputs" in _error(msg)
    msg.raw_input_contents.append(b"\0\0\0\0")
    assert "mixed" in _error(msg)


@pytest.mark.parametrize(
    ("datatype", "shape", "fill", "match"),
    [
        ("FP32", [2, 2], [1.0, 2.0, 3.0], "elements"),
        ("INT8", [1], [300], "out of range"),
        ("UINT16", [1], [70000], "out of range"),
        ("NOPE", [1], None, "unknown datatype"),
        ("INT32", [-1], None, "negative"),
        ("INT32", [3], None, "no data"),
        ("BYTES", [2], [b"a"], "elements"),
    ],
)
def test_bad_typed_inputs(datatype: str, shape: list[int], fill: Any, match: str) -> None:
    msg = tpb.ModelInferRequest(model_name="m")
    tensor = _input(msg, "t", datatype, shape)
    if fill is not None:
        field = DATATYPES[datatype].contents_field
        assert field is not None
        getattr(tensor.contents, field).extend(fill)
    message = _error(msg)
    assert match in message
    assert "'t'" in message


def test_raw_size_mismatch_names_the_tensor() -> None:
    msg = tpb.ModelInferRequest(model_name="m")
    _input(msg, "t", "FP32", [4])
    msg.raw_input_contents.append(b"\0" * 12)
    assert "'t'" in _error(msg)


def test_unpacked_repeated_fields_are_read_too() -> None:
    # proto2-style writers emit repeated scalars unpacked; protobuf readers must take both.
    from protocol._grpc_wire import I32, LEN, VARINT, encode_varint, key, len_field

    contents = key(6, I32) + np.float32(1.5).tobytes() + key(6, I32) + np.float32(-2).tobytes()
    tensor = b"".join([*len_field(1, b"x"), *len_field(2, b"FP32")])
    tensor += key(3, VARINT) + encode_varint(2) + b"".join(len_field(5, contents))
    body = b"".join(len_field(5, tensor))
    assert key(5, LEN) == body[:1]
    request = decode_infer_request(body)
    assert request.inputs[0].data.tolist() == [1.5, -2.0]


@pytest.mark.parametrize(
    "shape", [[1000, 4], [0], [127, 128], [16384, 2], [2**21, 0], [1] * 8, [1] * 31 + [128]]
)
def test_shapes_of_any_varint_width_are_read(shape: list[int]) -> None:
    # Short packed shapes take a Python loop, long ones (> 32 bytes) the vectorised decoder.
    count = int(np.prod(shape))
    msg = tpb.ModelInferRequest(model_name="m")
    _input(msg, "x", "INT8", shape)
    msg.raw_input_contents.append(b"\1" * count)
    request = decode_infer_request(msg.SerializeToString())
    assert request.inputs[0].shape == shape


def test_negative_dims_are_read_sign_extended() -> None:
    msg = tpb.ModelInferRequest(model_name="m")
    _input(msg, "x", "FP32", [-1, 4])
    assert "negative dimension" in _error(msg)


@pytest.mark.parametrize(
    ("shape_field", "message"),
    [
        (b"\x1a\x02\x80\x80", "truncated packed varint"),  # last byte continues
        (b"\x1a\x0b" + b"\xff" * 10 + b"\x01", "longer than 10 bytes"),
        (b"\x1a\x05\x01\x02", "runs past the end"),  # length beyond the message
    ],
)
def test_malformed_shapes_are_refused(shape_field: bytes, message: str) -> None:
    tensor = b"\x0a\x01x\x12\x04FP32" + shape_field
    body = b"\x0a\x01m" + b"\x2a" + bytes([len(tensor)]) + tensor
    with pytest.raises(ProtocolError, match=message):
        read_model_infer_request(body)


def test_fixed_width_fields_fall_back_to_the_general_reader() -> None:
    # A request id sent as a fixed64 (wire type 1) is not a VARINT or LEN field: the general
    # reader still walks the message (and an unknown field number is skipped).
    body = b"\x0a\x01m" + b"\x79" + b"\0" * 8 + b"\x12\x011"
    call = read_model_infer_request(body)
    assert (call.model_name, call.model_version) == ("m", "1")


@pytest.mark.parametrize(
    "value",
    [0, 1, 0x7F, 0x80, 300, 0x3FFF, 0x4000, 0x1FFFFF, 0x200000, 2**35 + 7, 2**64 - 1],
)
def test_varints_read_back_across_each_byte_length(value: int) -> None:
    # encode_varint writes one- to three-byte values without its loop: each length's edges
    # must still read back, by kernel's reader and by protobuf's own (a shape dim).
    from protocol._grpc_wire import encode_varint, read_varint

    data = encode_varint(value)
    assert read_varint(memoryview(data), 0) == (value, len(data))
    assert len(data) == max(1, (value.bit_length() + 6) // 7)
    output = b"\x1a" + bytes([len(data)]) + data  # InferOutputTensor.shape, packed
    parsed = tpb.ModelInferResponse.FromString(b"\x2a" + bytes([len(output)]) + output)
    assert list(parsed.outputs[0].shape) == [value - 2**64 if value >= 2**63 else value]
