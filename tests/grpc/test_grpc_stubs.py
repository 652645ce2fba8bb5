"""kernel's gRPC transport driven by tritonclient's aio client and by plain grpcio stubs
(tritonclient's service_pb2_grpc): typed inputs as the kserve SDK sends them, the kserve
repository layout, health checks and malformed messages."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc  # type: ignore[import-untyped]
import numpy as np
import pytest
import tritonclient.grpc.aio as aioclient

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))
from echo_runtimes import BROKEN_MESSAGE
from tritonclient.grpc import service_pb2 as tpb
from tritonclient.grpc import service_pb2_grpc as tgrpc

from protocol.datatypes import DATATYPES

BIG = 2**31 - 1


@pytest.fixture(scope="module")
def channel(address: str) -> Iterator[grpc.Channel]:
    options = [("grpc.max_send_message_length", BIG), ("grpc.max_receive_message_length", BIG)]
    with grpc.insecure_channel(address, options=options) as chan:
        yield chan


@pytest.fixture(scope="module")
def stub(channel: grpc.Channel) -> tgrpc.GRPCInferenceServiceStub:
    return tgrpc.GRPCInferenceServiceStub(channel)


def _typed(model: str, name: str, datatype: str, values: list[Any]) -> tpb.ModelInferRequest:
    request = tpb.ModelInferRequest(model_name=model, id="k1")
    tensor = request.inputs.add()
    tensor.name, tensor.datatype = name, datatype
    tensor.shape.extend([1, len(values)])
    field = DATATYPES[datatype].contents_field
    assert field is not None
    getattr(tensor.contents, field).extend(values)
    return request


TYPED: list[tuple[str, list[Any], np.dtype[Any]]] = [
    ("BOOL", [True, False, True], np.dtype(bool)),
    ("INT32", [-1, 0, 2**31 - 1], np.dtype("<i4")),
    ("INT64", [-(2**63), 1, 5], np.dtype("<i8")),
    ("UINT32", [0, 7, 2**32 - 1], np.dtype("<u4")),
    ("UINT64", [0, 2**64 - 1, 9], np.dtype("<u8")),
    ("FP32", [1.5, -2.0, 0.0], np.dtype("<f4")),
    ("FP64", [1e300, -0.5, 3.0], np.dtype("<f8")),
]


@pytest.mark.parametrize(("datatype", "values", "dtype"), TYPED, ids=[t[0] for t in TYPED])
def test_typed_inputs_answer_raw_outputs(
    stub: tgrpc.GRPCInferenceServiceStub, datatype: str, values: list[Any], dtype: np.dtype[Any]
) -> None:
    request = _typed("echo", "INPUT0", datatype, values)
    request.parameters["triton_enable_empty_final_response"].bool_param = True
    request.inputs[0].parameters["binary_data_size"].int64_param = 0
    response = stub.ModelInfer(request)
    assert response.id == "k1"
    assert not response.outputs[0].HasField("contents")
    out = np.frombuffer(response.raw_output_contents[0], dtype=dtype)
    assert out.tolist() == values


def test_typed_bytes_input(stub: tgrpc.GRPCInferenceServiceStub) -> None:
    response = stub.ModelInfer(_typed("echo", "INPUT0", "BYTES", [b"hi", b""]))
    assert response.raw_output_contents[0] == b"\x02\0\0\0hi\0\0\0\0"


def test_typed_field_of_the_wrong_type(stub: tgrpc.GRPCInferenceServiceStub) -> None:
    request = _typed("echo", "pixels", "INT32", [1, 2])
    request.inputs[0].datatype = "FP32"
    with pytest.raises(grpc.RpcError) as info:
        stub.ModelInfer(request)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "pixels" in str(info.value.details())


def test_malformed_message_is_invalid_argument(channel: grpc.Channel) -> None:
    call = channel.unary_unary("/inference.GRPCInferenceService/ModelInfer")
    with pytest.raises(grpc.RpcError) as info:
        call(b"\x0a\xff\xff")
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    meta = channel.unary_unary("/inference.GRPCInferenceService/ModelMetadata")
    with pytest.raises(grpc.RpcError) as info:
        meta(b"\x0a\x05ab")
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_kserve_layout_load_and_unload(channel: grpc.Channel) -> None:
    # kserve's RepositoryModelLoadRequest{model_name = 1}; reply {model_name = 1, isLoaded = 2}.
    unload = channel.unary_unary("/inference.GRPCInferenceService/RepositoryModelUnload")
    load = channel.unary_unary("/inference.GRPCInferenceService/RepositoryModelLoad")
    assert unload(b"\x0a\x04slow") == b"\x0a\x04slow\x10\x01"
    assert load(b"\x0a\x04slow") == b"\x0a\x04slow\x10\x01"


def test_health_check(channel: grpc.Channel) -> None:
    check = channel.unary_unary("/grpc.health.v1.Health/Check")
    # 'weights' never loads, so the strict server is not serving.
    assert check(b"") == b"\x08\x02"
    service = b"inference.GRPCInferenceService"
    assert check(b"\x0a" + bytes([len(service)]) + service) == b"\x08\x02"
    with pytest.raises(grpc.RpcError) as info:
        check(b"\x0a\x03foo")
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


def test_stream_with_grpcio_and_an_undecodable_message(
    stub: tgrpc.GRPCInferenceServiceStub, channel: grpc.Channel
) -> None:
    good = _typed("echo", "INPUT0", "FP32", [1.0, 2.0])
    bad = _typed("broken", "INPUT0", "FP32", [1.0])
    bad.id = "b"
    replies = list(stub.ModelStreamInfer(iter([good, bad, good])))
    assert [r.error_message == "" for r in replies] == [True, False, True]
    assert BROKEN_MESSAGE in replies[1].error_message
    assert replies[1].infer_response.id == "b"
    raw = channel.stream_stream("/inference.GRPCInferenceService/ModelStreamInfer")
    answers = [
        tpb.ModelStreamInferResponse.FromString(b)
        for b in raw(iter([b"\x2a\xff", good.SerializeToString()]))
    ]
    assert "malformed" in answers[0].error_message
    assert answers[1].infer_response.id == "k1"


def test_aio_client_every_rpc(address: str) -> None:
    async def main() -> None:
        async with aioclient.InferenceServerClient(address) as client:
            assert await client.is_server_live()
            assert await client.is_model_ready("echo")
            meta = await client.get_model_metadata("echo", as_json=True)
            assert meta["platform"] is not None
            config = await client.get_model_config("echo", as_json=True)
            assert config["config"]["max_batch_size"] == 8
            server = await client.get_server_metadata(as_json=True)
            assert "extensions" in server
            data = np.arange(8, dtype=np.float32).reshape(2, 4)
            tensor = aioclient.InferInput("INPUT0", [2, 4], "FP32")
            tensor.set_data_from_numpy(data)
            results = await asyncio.gather(
                *(client.infer("echo", [tensor], request_id=str(i)) for i in range(8))
            )
            for i, result in enumerate(results):
                assert result.get_response().id == str(i)
                assert np.array_equal(result.as_numpy("INPUT0"), data)

            async def requests() -> Any:
                for i in range(5):
                    yield {"model_name": "echo", "inputs": [tensor], "request_id": f"s{i}"}

            ids = []
            async for result, error in client.stream_infer(requests()):
                assert error is None
                ids.append(result.get_response().id)
            assert ids == [f"s{i}" for i in range(5)]

    asyncio.run(main())
