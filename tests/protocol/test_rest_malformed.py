"""Malformed inference bodies: each is refused with a ProtocolError naming what is wrong."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from protocol import ProtocolError
from protocol.rest import decode_infer_request, decode_infer_response


def _input(**fields: Any) -> dict[str, Any]:
    tensor: dict[str, Any] = {"name": "x", "shape": [2, 3], "datatype": "FP32"}
    tensor.update(fields)
    return {key: value for key, value in tensor.items() if value is not None}


def _json(*inputs: dict[str, Any], **extra: Any) -> bytes:
    return json.dumps({"inputs": list(inputs), **extra}).encode()


def _binary(tensor: dict[str, Any], blob: bytes) -> tuple[bytes, int]:
    head = _json(tensor)
    return head + blob, len(head)


SIX = [0.0, 1, 2, 3, 4, 5]

CASES: list[tuple[str, bytes, int | None, str]] = [
    ("not JSON", b"hello", None, "invalid inference request: JSON is malformed"),
    ("empty", b"", None, "invalid inference request: Input data was truncated"),
    ("array body", b"[]", None, "Expected `object`, got `array`"),
    ("no inputs", b"{}", None, "Object missing required field `inputs`"),
    ("name not str", _json(_input(name=3, data=SIX)), None, "at `$.inputs[0].name`"),
    ("shape not ints", _json(_input(shape=[2, "3"], data=SIX)), None, "`$.inputs[0].shape[1]`"),
    ("shape huge int", _json(_input(shape=[2**70], data=[])), None, "has a dimension above"),
    (
        "unknown datatype",
        _json(_input(datatype="FP8", data=SIX)),
        None,
        "input 'x': unknown datatype 'FP8'",
    ),
    (
        "negative dim",
        _json(_input(shape=[-2, 3], data=SIX)),
        None,
        "input 'x': shape [-2,3] has a negative dimension",
    ),
    (
        "absurd shape",
        _json(_input(shape=[2**31, 2**31], data=[])),
        None,
        "input 'x': shape [2147483648,2147483648] holds",
    ),
    (
        "too few",
        _json(_input(data=SIX[:5])),
        None,
        "input 'x': shape [2,3] needs 6 elements, got 5",
    ),
    (
        "too many",
        _json(_input(data=[*SIX, 6])),
        None,
        "input 'x': shape [2,3] needs 6 elements, got 7",
    ),
    ("nested wrong count", _json(_input(data=[[1, 2], [3, 4]])), None, "needs 6 elements, got 4"),
    ("ragged", _json(_input(data=[[1, 2, 3], [4, 5]])), None, "input 'x': nested data is ragged"),
    (
        "string in FP32",
        _json(_input(data=[0, 1, 2, 3, 4, "5"])),
        None,
        "input 'x': FP32 data must be JSON numbers: Expected `float`, got `str` - at `data[5]`",
    ),
    (
        "null in FP32",
        _json(_input(data=[0, 1, 2, 3, 4, None])),
        None,
        "Expected `float`, got `null`",
    ),
    (
        "float in INT32",
        _json(_input(datatype="INT32", data=[0, 1, 2, 3, 4, 5.5])),
        None,
        "INT32 data must be JSON integers: Expected `int`, got `float`",
    ),
    (
        "bool in INT",
        _json(_input(datatype="INT16", data=[0, 1, 2, 3, 4, True])),
        None,
        "Expected `int`, got `bool`",
    ),
    (
        "int in BOOL",
        _json(_input(datatype="BOOL", data=[0, 1, 0, 1, 0, 1])),
        None,
        "BOOL data must be JSON booleans",
    ),
    (
        "INT8 range",
        _json(_input(datatype="INT8", data=[0, 1, 2, 3, 4, -129])),
        None,
        "input 'x': INT8 data holds -129, outside [-128, 127]",
    ),
    (
        "UINT8 range",
        _json(_input(datatype="UINT8", data=[0, 1, 2, 3, 4, 256])),
        None,
        "UINT8 data holds 256, outside [0, 255]",
    ),
    (
        "UINT16 negative",
        _json(_input(datatype="UINT16", data=[0, 1, 2, 3, 4, -1])),
        None,
        "UINT16 data holds -1, outside [0, 65535]",
    ),
    (
        "number in BYTES",
        _json(_input(datatype="BYTES", data=[0, 1, 2, 3, 4, 5])),
        None,
        "BYTES data must be JSON strings",
    ),
    (
        "BF16 in JSON",
        _json(_input(datatype="BF16", data=SIX)),
        None,
        "input 'x': BF16 cannot be sent as JSON data",
    ),
    ("data not array", _json(_input(data={"a": 1})), None, "input 'x': data must be a JSON array"),
    (
        "neither",
        _json(_input()),
        None,
        "input 'x': has neither data nor parameters.binary_data_size",
    ),
    (
        "both",
        _json(_input(data=SIX, parameters={"binary_data_size": 24})),
        None,
        "input 'x': has both data and",
    ),
    (
        "size string",
        _json(_input(parameters={"binary_data_size": "24"})),
        None,
        "binary_data_size must be a non-negative integer, got '24'",
    ),
    (
        "size negative",
        _json(_input(parameters={"binary_data_size": -1})),
        None,
        "must be a non-negative integer, got -1",
    ),
    ("size float", _json(_input(parameters={"binary_data_size": 24.0})), None, "got 24.0"),
    ("size bool", _json(_input(parameters={"binary_data_size": True})), None, "got True"),
    (
        "no header length",
        _json(_input(parameters={"binary_data_size": 24})),
        None,
        "runs past the end of the body (0 bytes left) (no Inference-Header-Content-Length",
    ),
    (
        "blob short",
        *_binary(_input(parameters={"binary_data_size": 24}), b"\0" * 20),
        "input 'x': binary_data_size 24 runs past the end of the body (20 bytes left)",
    ),
    (
        "blob left over",
        *_binary(_input(parameters={"binary_data_size": 24}), b"\0" * 30),
        "body has 6 bytes after the JSON header",
    ),
    (
        "size vs shape",
        *_binary(_input(parameters={"binary_data_size": 20}), b"\0" * 20),
        "input 'x': shape [2,3] of FP32 needs 24 bytes, got 20",
    ),
    (
        "bool byte",
        *_binary(
            _input(shape=[2], datatype="BOOL", parameters={"binary_data_size": 2}), b"\x01\x07"
        ),
        "BOOL data must be bytes 0 or 1",
    ),
    (
        "bytes prefix past end",
        *_binary(
            _input(shape=[1], datatype="BYTES", parameters={"binary_data_size": 6}), b"\x09\0\0\0ab"
        ),
        "BYTES element 0 has length 9, which runs past the end",
    ),
    (
        "bytes left over",
        *_binary(
            _input(shape=[1], datatype="BYTES", parameters={"binary_data_size": 7}),
            b"\x02\0\0\0abc",
        ),
        "BYTES data has 1 bytes left over",
    ),
    (
        "bytes count",
        *_binary(
            _input(shape=[2**31], datatype="BYTES", parameters={"binary_data_size": 4}), b"\0\0\0\0"
        ),
        "2147483648 BYTES elements need at least 8589934592 bytes",
    ),
    (
        "header past body",
        b"{}",
        3,
        "Inference-Header-Content-Length 3 is outside the body of 2 bytes",
    ),
    ("header negative", b"{}", -1, "Inference-Header-Content-Length -1 is outside"),
    ("header zero", b"{}", 0, "invalid inference request"),
    ("header inside JSON", b'{"inputs": []}', 5, "invalid inference request"),
]


@pytest.mark.parametrize(
    ("body", "header_length", "fragment"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_malformed_request_is_refused(
    body: bytes, header_length: int | None, fragment: str
) -> None:
    with pytest.raises(ProtocolError) as info:
        decode_infer_request(body, header_length)
    assert fragment in str(info.value)


def test_non_utf8_bytes_decode_in_binary_but_not_json() -> None:
    blob = b"\x02\0\0\0\xff\xfe"
    body, length = _binary(
        _input(shape=[1], datatype="BYTES", parameters={"binary_data_size": 6}), blob
    )
    assert decode_infer_request(body, length).inputs[0].data.tolist() == [b"\xff\xfe"]
    raw_json = b'{"inputs":[{"name":"x","shape":[1],"datatype":"BYTES","data":["\xff"]}]}'
    with pytest.raises(
        ProtocolError, match=r"'utf-8' codec .* \(send non-UTF-8 BYTES as binary data\)"
    ):
        decode_infer_request(raw_json, None)


def test_response_body_errors_name_outputs() -> None:
    body = b'{"model_name":"m","outputs":[{"name":"y","shape":[2],"datatype":"INT32","data":[1]}]}'
    with pytest.raises(ProtocolError, match=r"output 'y': shape \[2\] needs 2 elements, got 1"):
        decode_infer_response(body, None)


@pytest.mark.parametrize(
    "data",
    [b"[ [1, 2],\n [3, 4] ]", b"[[1,2],[3,4]]", b"[\t1, 2, 3, 4 ]", b"[[[1,2]],[[3,4]]]"],
)
def test_json_data_is_read_whatever_its_spacing_and_nesting(data: bytes) -> None:
    body = b'{"inputs":[{"name":"x","shape":[2,2],"datatype":"INT32","data":' + data + b"}]}"
    array = decode_infer_request(body, None).inputs[0].data
    assert array.dtype == np.int32
    assert array.tolist() == [[1, 2], [3, 4]]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"null", "input 'x': data must be a JSON array"),
        (b'"1,2"', "input 'x': data must be a JSON array"),
        (b"[" * 40 + b"1" + b"]" * 40, "input 'x': data is nested deeper than 32 levels"),
        (b"[1, [2]]", r"input 'x': INT32 data must be JSON integers: .* `data\[1\]`"),
        (b"[[1, 2], [3]]", r"input 'x': nested data is ragged"),
        (b"[1e999]", r"Number out of range - at `\$.inputs\[0\].data\[0\]`"),
    ],
)
def test_json_data_errors_name_the_tensor(data: bytes, message: str) -> None:
    body = b'{"inputs":[{"name":"x","shape":[2],"datatype":"INT32","data":' + data + b"}]}"
    with pytest.raises(ProtocolError, match=message):
        decode_infer_request(body, None)


def test_fp_data_out_of_json_range_is_refused() -> None:
    body = b'{"inputs":[{"name":"x","shape":[1],"datatype":"FP64","data":[1e999]}]}'
    with pytest.raises(ProtocolError, match=r"Number out of range - at `\$.inputs\[0\].data"):
        decode_infer_request(body, None)


def test_null_is_nan_in_answers_but_refused_in_requests() -> None:
    answer = (
        b'{"model_name":"m","outputs":[{"name":"y","shape":[2,2],"datatype":"FP32",'
        b'"data":[[1.5,null],[null,2.0]]}]}'
    )
    data = decode_infer_response(answer, None).outputs[0].data
    assert data.dtype == np.float32
    assert np.isnan(data).tolist() == [[False, True], [True, False]]
    body = b'{"inputs":[{"name":"x","shape":[2],"datatype":"FP32","data":[1.5,null]}]}'
    with pytest.raises(ProtocolError, match=r"input 'x': FP32 data must be JSON numbers"):
        decode_infer_request(body, None)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"[[1.5,null],[2.0]]", r"output 'y': nested data is ragged"),
        (b"[null,1e39]", r"output 'y': FP32 data holds 1e\+39, outside"),
        (b"[null]", r"output 'y': shape \[2\] needs 2 elements, got 1"),
    ],
)
def test_answers_with_null_are_still_checked(data: bytes, message: str) -> None:
    answer = (
        b'{"model_name":"m","outputs":[{"name":"y","shape":[2],"datatype":"FP32","data":'
        + data
        + b"}]}"
    )
    with pytest.raises(ProtocolError, match=message):
        decode_infer_response(answer, None)
