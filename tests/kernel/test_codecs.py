"""Input-level codecs (np, str, base64, datetime), the dict and np/str request codecs, the
registry and the ``kernel_register_codecs`` hook."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from codec_wire import WIRES, request_over, response_over
from core_helpers import make_kernel, write_model

from kernel import hookimpl
from kernel.codecs import (
    CodecError,
    CodecRegistry,
    Tensor,
    TensorCodec,
    decode_request,
    decode_response,
    default_registry,
    encode_request,
    encode_response,
)
from kernel.errors import PluginLoadError
from kernel.hookspecs import RegisterCodec
from protocol import rest
from protocol.messages import InferenceRequest, RequestInput


def _decode_one(body: bytes) -> Any:
    return decode_request(rest.decode_infer_request(body))


@pytest.mark.parametrize("wire", WIRES)
@pytest.mark.parametrize(
    "value",
    [
        np.arange(12, dtype=np.float32).reshape(3, 4),
        np.array([[True, False]]),
        np.array(["a", "ç ☃", ""]),
        ["x", "yz", "☃"],
    ],
    ids=["fp32", "bool", "str-array", "str-list"],
)
def test_single_values_round_trip(wire: str, value: Any) -> None:
    got = decode_request(request_over(wire, encode_request(value)))
    back = decode_response(response_over(wire, encode_response(got, model_name="m")))
    for result in (got, back):
        if isinstance(value, np.ndarray):
            assert result.dtype == value.dtype
            np.testing.assert_array_equal(result, value)
        else:
            assert result == value


@pytest.mark.parametrize("wire", WIRES)
def test_dict_of_arrays_lists_and_datetimes_round_trips(wire: str) -> None:
    when = [dt.datetime(2024, 1, 2, 3, 4, 5, 678901), dt.datetime(2024, 5, 6, tzinfo=dt.UTC)]
    value = {
        "x": np.array([[1, 2], [3, 4]], dtype=np.int16),
        "words": ["a", "b"],
        "when": when,
        "blob": [b"\x00\xff", b""],
    }
    request = encode_request(value)
    assert request.parameters["content_type"] == "dict"  # type: ignore[index]
    got = decode_request(request_over(wire, request))
    assert set(got) == set(value)
    np.testing.assert_array_equal(got["x"], value["x"])
    assert got["x"].dtype == np.int16
    assert got["words"] == ["a", "b"]
    assert got["when"] == when
    assert got["blob"] == [b"\x00\xff", b""]
    back = decode_response(response_over(wire, encode_response(got)))
    assert back["when"] == when
    assert back["words"] == ["a", "b"]
    assert back["blob"] == value["blob"]


def test_input_content_types_from_any_client() -> None:
    body = (
        b'{"inputs": [{"name": "s", "shape": [2], "datatype": "BYTES", "data": ["hi", "there"],'
        b' "parameters": {"content_type": "str"}}]}'
    )
    assert _decode_one(body) == ["hi", "there"]
    body = (
        b'{"inputs": [{"name": "b", "shape": [1], "datatype": "BYTES", "data": ["AAH/"],'
        b' "parameters": {"content_type": "base64"}}]}'
    )
    assert _decode_one(body) == [b"\x00\x01\xff"]
    body = (
        b'{"inputs": [{"name": "t", "shape": [2], "datatype": "BYTES",'
        b' "data": ["2024-01-01T10:00:00+02:00", "2024-02-03"],'
        b' "parameters": {"content_type": "datetime"}}]}'
    )
    assert _decode_one(body) == [
        dt.datetime(2024, 1, 1, 10, tzinfo=dt.timezone(dt.timedelta(hours=2))),
        dt.datetime(2024, 2, 3),
    ]
    body = b'{"inputs": [{"name": "n", "shape": [2], "datatype": "INT8", "data": [1, 2]}]}'
    got = _decode_one(body)
    assert got.dtype == np.int8
    assert got.tolist() == [1, 2]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            b'{"inputs": [{"name": "b", "shape": [1], "datatype": "BYTES", "data": ["*"],'
            b' "parameters": {"content_type": "base64"}}]}',
            "tensor 'b': element 0 is not base64",
        ),
        (
            b'{"inputs": [{"name": "t", "shape": [1], "datatype": "BYTES", "data": ["noon"],'
            b' "parameters": {"content_type": "datetime"}}]}',
            r"tensor 't': element 0 \('noon'\) is not an ISO-8601 date-time",
        ),
        (
            b'{"inputs": [{"name": "s", "shape": [1], "datatype": "INT32", "data": [1],'
            b' "parameters": {"content_type": "str"}}]}',
            "tensor 's': content type 'str' needs BYTES data, got INT32",
        ),
        (
            b'{"parameters": {"content_type": "np"}, "inputs": ['
            b'{"name": "a", "shape": [1], "datatype": "INT32", "data": [1]},'
            b'{"name": "b", "shape": [1], "datatype": "INT32", "data": [1]}]}',
            r"content type 'np' takes exactly one tensor, got 2 \('a', 'b'\)",
        ),
    ],
)
def test_bad_tensors_are_400s_naming_them(body: bytes, message: str) -> None:
    with pytest.raises(CodecError, match=message):
        _decode_one(body)


def test_unknown_content_type_lists_the_known_ones() -> None:
    body = (
        b'{"parameters": {"content_type": "parquet"}, "inputs": '
        b'[{"name": "a", "shape": [1], "datatype": "INT32", "data": [1]}]}'
    )
    with pytest.raises(CodecError) as info:
        _decode_one(body)
    assert str(info.value) == (
        "unknown content type 'parquet' in the request parameters; known content types:"
        " base64, datetime, dict, np, pd, str"
    )
    body = (
        b'{"inputs": [{"name": "a", "shape": [1], "datatype": "INT32", "data": [1],'
        b' "parameters": {"content_type": "utf16"}}]}'
    )
    with pytest.raises(CodecError, match="unknown content type 'utf16' in input 'a'; known"):
        _decode_one(body)


def test_level_mismatch_is_explained() -> None:
    registry = default_registry()
    with pytest.raises(CodecError, match="'pd' works on a whole request, not on one tensor"):
        registry.tensor("pd")
    with pytest.raises(CodecError, match="'base64' works on one tensor, not on a whole request"):
        registry.request("base64")


def test_model_settings_content_types_apply_below_the_request() -> None:
    from kernel.model_settings import ModelParameters, ModelSettings
    from protocol.messages import MetadataTensor

    settings = ModelSettings(
        name="m",
        implementation="x",
        path=".",
        parameters=ModelParameters(content_type="dict"),
        inputs=[MetadataTensor("s", "BYTES", [-1], {"content_type": "str"})],
    )
    text = np.array([b"a", b"b"], dtype=object)
    request = InferenceRequest(inputs=[RequestInput("s", [2], "BYTES", data=text)])
    assert decode_request(request, settings=settings) == {"s": ["a", "b"]}
    own = InferenceRequest(
        inputs=[RequestInput("s", [2], "BYTES", {"content_type": "np"}, data=text)],
        parameters={"content_type": "np"},
    )
    assert decode_request(own, settings=settings).tolist() == [b"a", b"b"]


class Upper(TensorCodec):
    """A third-party codec: BYTES as upper-case text."""

    content_type = "upper"

    def decode(self, tensor: Tensor) -> Any:
        return [bytes(v).decode().upper() for v in tensor.data.reshape(-1)]

    def encode(self, name: str, value: Any) -> Tensor:
        data = np.array([v.lower().encode() for v in value], dtype=object)
        return Tensor(name, [len(value)], "BYTES", data, self.content_type)


class CodecPlugin:
    def __init__(self, *codecs: Any) -> None:
        self.codecs = codecs

    @hookimpl
    def kernel_register_codecs(self, register: RegisterCodec) -> None:
        for codec in self.codecs:
            register(codec)


def _codecs_of(tmp_path: Path, *plugins: object) -> CodecRegistry:
    import asyncio

    async def run() -> CodecRegistry:
        async with make_kernel(tmp_path, *plugins) as kernel:
            return kernel.codecs

    return asyncio.run(run())


def test_hook_kernel_register_codecs_adds_a_codec(tmp_path: Path) -> None:
    registry = _codecs_of(tmp_path, CodecPlugin(Upper()))
    assert "upper" in registry.names()
    assert "pd" in registry.names()
    request = InferenceRequest(
        inputs=[
            RequestInput(
                "w", [1], "BYTES", {"content_type": "upper"}, np.array([b"hi"], dtype=object)
            )
        ]
    )
    assert decode_request(request, registry=registry) == ["HI"]


def test_hook_kernel_register_codecs_duplicate_name_fails_start_up(tmp_path: Path) -> None:
    class Shadow(Upper):
        content_type = "str"

    with pytest.raises(PluginLoadError) as info:
        _codecs_of(tmp_path, CodecPlugin(Shadow()))
    assert str(info.value) == (
        "input-level codec 'str' is registered twice: by plugin 'codecs' and by plugin 'test0'"
    )


def test_hook_kernel_register_codecs_refuses_a_non_codec(tmp_path: Path) -> None:
    with pytest.raises(PluginLoadError, match="plugin 'test0' registered 42, which is neither"):
        _codecs_of(tmp_path, CodecPlugin(42))


def test_the_kernel_refuses_unknown_content_types_for_untyped_runtimes(tmp_path: Path) -> None:
    import asyncio

    write_model(tmp_path / "e", {"implementation": "echo"})

    async def run() -> None:
        async with make_kernel(tmp_path, CodecPlugin()) as kernel:
            x = np.array([1], dtype=np.int32)
            good = InferenceRequest(
                inputs=[RequestInput("x", [1], "INT32", {"content_type": "np"}, x)]
            )
            assert (await kernel.infer("e", None, good)).outputs[0].data.tolist() == [1]
            bad = InferenceRequest(
                inputs=[RequestInput("x", [1], "INT32", data=x)], parameters={"content_type": "xml"}
            )
            with pytest.raises(CodecError, match="unknown content type 'xml' in the request"):
                await kernel.infer("e", None, bad)

    asyncio.run(run())
