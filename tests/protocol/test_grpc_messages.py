"""Every non-inference message: ours (betterproto) <-> tritonclient's protobuf classes, and the
converters to and from the Structs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import betterproto
import pytest
from google.protobuf import json_format  # type: ignore[import-untyped]
from google.protobuf.message import Message  # type: ignore[import-untyped]
from google.protobuf.unknown_fields import UnknownFieldSet  # type: ignore[import-untyped]
from tritonclient.grpc import model_config_pb2 as tmc
from tritonclient.grpc import service_pb2 as tpb

from protocol._proto.grpc.health import v1 as health
from protocol.errors import ProtocolError
from protocol.grpc import (
    config_from_proto,
    config_to_proto,
    decode_message,
    index_request_from_proto,
    index_request_to_proto,
    index_response_from_proto,
    index_response_to_proto,
    load_request_from_proto,
    metadata_from_proto,
    metadata_to_proto,
    parameters_from_proto,
    parameters_to_proto,
    pb,
    server_metadata_from_proto,
    server_metadata_to_proto,
    unload_request_from_proto,
)
from protocol.messages import (
    UNSET,
    MetadataTensor,
    ModelConfig,
    ModelConfigInput,
    ModelConfigOutput,
    ModelMetadataResponse,
    RepositoryIndexEntry,
    RepositoryIndexRequest,
    ServerMetadataResponse,
)


def _both(build: Callable[[Any], Any]) -> tuple[betterproto.Message, Message]:
    """``build`` applied to our ``pb`` and to tritonclient's ``service_pb2``, for messages whose
    classes, nested ones too, have the same names and fields in both."""
    return build(pb), build(tpb)


def _model_config(m: Any, fp32: Any, bf16: Any, nchw: Any) -> Any:
    """A ModelConfig with every field set, built from ``m``: our ``pb`` or tritonclient's
    ``model_config_pb2`` (the same class and field names; enum values differ in spelling)."""
    return m.ModelConfig(
        name="m",
        platform="p",
        backend="b",
        runtime="r",
        max_batch_size=8,
        input=[
            m.ModelInput(
                name="x",
                data_type=fp32,
                format=nchw,
                dims=[3, -1],
                reshape=m.ModelTensorReshape(shape=[3]),
                is_shape_tensor=True,
                allow_ragged_batch=True,
                optional=True,
                is_non_linear_format_io=True,
            )
        ],
        output=[
            m.ModelOutput(
                name="y",
                data_type=bf16,
                dims=[2],
                label_filename="labels.txt",
                reshape=m.ModelTensorReshape(shape=[1, 2]),
                is_shape_tensor=True,
                is_non_linear_format_io=True,
            )
        ],
        default_model_filename="model.joblib",
        dynamic_batching=m.ModelDynamicBatching(
            preferred_batch_size=[4, 8], max_queue_delay_microseconds=100
        ),
        parameters={"k": m.ModelParameter(string_value="v")},
        model_transaction_policy=m.ModelTransactionPolicy(decoupled=True),
        response_cache=m.ModelResponseCache(enable=True),
    )


# (ours, theirs): one filled-in example of every message whose layout both schemas share.
CASES: list[tuple[betterproto.Message, Message]] = [
    (pb.ServerLiveRequest(), tpb.ServerLiveRequest()),
    (pb.ServerLiveResponse(live=True), tpb.ServerLiveResponse(live=True)),
    (pb.ServerReadyRequest(), tpb.ServerReadyRequest()),
    (pb.ServerReadyResponse(ready=True), tpb.ServerReadyResponse(ready=True)),
    (pb.ModelReadyRequest(name="m", version="2"), tpb.ModelReadyRequest(name="m", version="2")),
    (pb.ModelReadyResponse(ready=True), tpb.ModelReadyResponse(ready=True)),
    (pb.ServerMetadataRequest(), tpb.ServerMetadataRequest()),
    (
        pb.ServerMetadataResponse(name="kernel", version="1", extensions=["a", "b"]),
        tpb.ServerMetadataResponse(name="kernel", version="1", extensions=["a", "b"]),
    ),
    (
        pb.ModelMetadataRequest(name="m", version="1"),
        tpb.ModelMetadataRequest(name="m", version="1"),
    ),
    (
        pb.ModelMetadataResponse(
            name="m",
            versions=["1", "2"],
            platform="sklearn",
            inputs=[pb.ModelMetadataResponseTensorMetadata("x", "FP32", [-1, 4])],
            outputs=[pb.ModelMetadataResponseTensorMetadata("y", "INT64", [-1])],
        ),
        tpb.ModelMetadataResponse(
            name="m",
            versions=["1", "2"],
            platform="sklearn",
            inputs=[
                tpb.ModelMetadataResponse.TensorMetadata(name="x", datatype="FP32", shape=[-1, 4])
            ],
            outputs=[
                tpb.ModelMetadataResponse.TensorMetadata(name="y", datatype="INT64", shape=[-1])
            ],
        ),
    ),
    (pb.ModelConfigRequest(name="m", version="1"), tpb.ModelConfigRequest(name="m", version="1")),
    (
        pb.ModelConfigResponse(
            config=_model_config(
                pb,
                fp32=pb.DataType.from_string("TYPE_FP32"),
                bf16=pb.DataType.from_string("TYPE_BF16"),
                nchw=pb.ModelInputFormat.from_string("FORMAT_NCHW"),
            )
        ),
        tpb.ModelConfigResponse(
            config=_model_config(
                tmc, fp32=tmc.TYPE_FP32, bf16=tmc.TYPE_BF16, nchw=tmc.ModelInput.FORMAT_NCHW
            )
        ),
    ),
    (
        pb.RepositoryIndexRequest(repository_name="r", ready=True),
        tpb.RepositoryIndexRequest(repository_name="r", ready=True),
    ),
    (
        pb.RepositoryIndexResponse(
            models=[pb.RepositoryIndexResponseModelIndex("m", "1", "READY", "")]
        ),
        tpb.RepositoryIndexResponse(
            models=[
                tpb.RepositoryIndexResponse.ModelIndex(
                    name="m", version="1", state="READY", reason=""
                )
            ]
        ),
    ),
    _both(
        lambda m: m.RepositoryModelLoadRequest(
            repository_name="r",
            model_name="m",
            parameters={
                "config": m.ModelRepositoryParameter(string_param="{}"),
                "file:1/model.bin": m.ModelRepositoryParameter(bytes_param=b"\0\1"),
                "n": m.ModelRepositoryParameter(int64_param=-1),
                "b": m.ModelRepositoryParameter(bool_param=False),
            },
        )
    ),
    _both(
        lambda m: m.RepositoryModelUnloadRequest(
            model_name="m",
            parameters={"unload_dependents": m.ModelRepositoryParameter(bool_param=True)},
        )
    ),
    (
        pb.InferParameter(uint64_param=2**64 - 1),
        tpb.InferParameter(uint64_param=2**64 - 1),
    ),
    (pb.InferParameter(double_param=-0.5), tpb.InferParameter(double_param=-0.5)),
    (pb.InferParameter(int64_param=0), tpb.InferParameter(int64_param=0)),
    _both(
        lambda m: m.InferTensorContents(
            bool_contents=[True, False],
            int_contents=[-1, 2**31 - 1],
            int64_contents=[-(2**63)],
            uint_contents=[2**32 - 1],
            uint64_contents=[2**64 - 1],
            fp32_contents=[1.5],
            fp64_contents=[-2.25],
            bytes_contents=[b"", b"\xff"],
        )
    ),
]


def _ids() -> list[str]:
    return [type(theirs).__name__ for _ours, theirs in CASES]


@pytest.mark.parametrize(("ours", "theirs"), CASES, ids=_ids())
def test_ours_decode_as_theirs_field_by_field(ours: betterproto.Message, theirs: Message) -> None:
    decoded = type(theirs).FromString(bytes(ours))
    assert decoded == theirs
    # nothing left over as unknown fields, at any depth
    deterministic = decoded.SerializeToString(deterministic=True)
    assert deterministic == theirs.SerializeToString(deterministic=True)


@pytest.mark.parametrize(("ours", "theirs"), CASES, ids=_ids())
def test_theirs_decode_as_ours_field_by_field(ours: betterproto.Message, theirs: Message) -> None:
    decoded = decode_message(theirs.SerializeToString(), type(ours))
    assert decoded.to_dict(include_default_values=True) == ours.to_dict(include_default_values=True)
    # and the parse kept every oneof choice, even a zero value
    assert bytes(decoded) == bytes(ours) or type(theirs).FromString(bytes(decoded)) == theirs


def test_properties_is_field_6_and_skipped_by_triton() -> None:
    ours = pb.ModelMetadataResponse(name="m", properties={"k": "v"})
    theirs = tpb.ModelMetadataResponse.FromString(bytes(ours))
    assert theirs.name == "m"
    (unknown,) = UnknownFieldSet(theirs)
    assert unknown.field_number == 6


def test_repository_replies_carry_kserve_fields() -> None:
    body = bytes(pb.RepositoryModelLoadResponse(model_name="m", loaded=True))
    assert body == b"\x0a\x01m\x10\x01"  # model_name = 1, isLoaded = 2
    tpb.RepositoryModelLoadResponse.FromString(body)  # Triton's empty reply skips them
    body = bytes(pb.RepositoryModelUnloadResponse(model_name="m", unloaded=True))
    assert body == b"\x0a\x01m\x10\x01"


def test_kserve_layout_names_the_model_in_field_1() -> None:
    kserve = b"\x0a\x04iris"  # kserve's RepositoryModelLoadRequest{model_name = 1}
    name, _ = load_request_from_proto(decode_message(kserve, pb.RepositoryModelLoadRequest))
    assert name == "iris"
    name, req = unload_request_from_proto(
        decode_message(
            tpb.RepositoryModelUnloadRequest(
                repository_name="repo",
                model_name="m",
                parameters={"unload_dependents": tpb.ModelRepositoryParameter(bool_param=False)},
            ).SerializeToString(),
            pb.RepositoryModelUnloadRequest,
        )
    )
    assert name == "m"
    assert req.parameters == {"unload_dependents": False}
    with pytest.raises(ProtocolError, match="model_name"):
        load_request_from_proto(pb.RepositoryModelLoadRequest())


def test_health_messages_match_the_standard_layout() -> None:
    assert bytes(health.HealthCheckRequest(service="x")) == b"\x0a\x01x"
    status = health.HealthCheckResponseServingStatus.from_string("NOT_SERVING")
    assert bytes(health.HealthCheckResponse(status=status)) == b"\x08\x02"


# --- converters --------------------------------------------------------------------------------


def test_server_metadata_converts_both_ways() -> None:
    msg = ServerMetadataResponse(name="kernel", version="0.1", extensions=["model_repository"])
    proto = server_metadata_to_proto(msg)
    theirs = tpb.ServerMetadataResponse.FromString(bytes(proto))
    assert list(theirs.extensions) == ["model_repository"]
    assert server_metadata_from_proto(proto) == msg


def test_model_metadata_converts_both_ways() -> None:
    msg = ModelMetadataResponse(
        name="m",
        platform="sklearn",
        versions=["1"],
        inputs=[MetadataTensor(name="x", datatype="FP64", shape=[-1, 4])],
        outputs=[MetadataTensor(name="y", datatype="BYTES", shape=[-1])],
        properties={"k": "v"},
    )
    proto = metadata_to_proto(msg)
    theirs = tpb.ModelMetadataResponse.FromString(bytes(proto))
    assert [(t.name, t.datatype, list(t.shape)) for t in theirs.inputs] == [("x", "FP64", [-1, 4])]
    assert metadata_from_proto(proto) == msg


def test_model_config_converts_both_ways_and_reads_as_triton_json() -> None:
    config = ModelConfig(
        name="m",
        backend="sklearn",
        max_batch_size=4,
        input=[ModelConfigInput(name="x", data_type="TYPE_FP32", dims=[4], optional=True)],
        output=[ModelConfigOutput(name="y", data_type="TYPE_STRING", dims=[1])],
    )
    proto = config_to_proto(config)
    theirs = tmc.ModelConfig.FromString(bytes(proto))
    as_json: dict[str, Any] = json_format.MessageToDict(theirs, preserving_proto_field_name=True)
    assert as_json["max_batch_size"] == 4
    assert as_json["input"][0]["data_type"] == "TYPE_FP32"
    assert as_json["output"][0]["data_type"] == "TYPE_STRING"
    assert config_from_proto(proto) == config
    with pytest.raises(ProtocolError, match="TYPE_NOPE"):
        config_to_proto(ModelConfig(name="m", input=[ModelConfigInput("x", "TYPE_NOPE", [1])]))


def test_repository_index_converts_both_ways() -> None:
    entries = [RepositoryIndexEntry(name="a", version="1", state="READY")]
    assert index_response_from_proto(index_response_to_proto(entries)) == entries
    req = RepositoryIndexRequest(ready=True)
    assert index_request_from_proto(index_request_to_proto(req)) == req


def test_parameters_convert_both_ways() -> None:
    params = {"b": True, "i": -5, "u": 2**64 - 1, "f": 0.5, "s": "x"}
    proto = parameters_to_proto(params)
    assert proto["u"].uint64_param == 2**64 - 1
    assert parameters_from_proto(proto) == params
    assert parameters_from_proto({}) is UNSET
    with pytest.raises(ProtocolError, match="'bad'"):
        parameters_to_proto({"bad": [1]})
    with pytest.raises(ProtocolError, match="64 bits"):
        parameters_to_proto({"huge": 2**64})


def test_garbage_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="ModelConfigRequest"):
        decode_message(b"\x0a\xff", pb.ModelConfigRequest)
