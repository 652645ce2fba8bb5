"""Garbage and mutated bytes never escape the gRPC decoders as anything but ProtocolError."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tritonclient.grpc import service_pb2 as tpb

from protocol.errors import ProtocolError
from protocol.grpc import decode_infer_request, decode_message, pb


def _valid_request() -> bytes:
    msg = tpb.ModelInferRequest(model_name="m", id="1")
    msg.parameters["p"].int64_param = 3
    raw = msg.inputs.add()
    raw.name, raw.datatype = "a", "FP32"
    raw.shape.extend([2, 2])
    text = msg.inputs.add()
    text.name, text.datatype = "b", "BYTES"
    text.shape.extend([2])
    msg.raw_input_contents.append(np.arange(4, dtype=np.float32).tobytes())
    msg.raw_input_contents.append(b"\x01\0\0\0x\x02\0\0\0yz")
    body: bytes = msg.SerializeToString()
    return body


def _typed_request() -> bytes:
    msg = tpb.ModelInferRequest(model_name="m")
    tensor = msg.inputs.add()
    tensor.name, tensor.datatype = "c", "INT64"
    tensor.shape.extend([3])
    tensor.contents.int64_contents.extend([1, -300, 2**40])
    body: bytes = msg.SerializeToString()
    return body


SEEDS = [_valid_request(), _typed_request()]


def _decode_or_protocol_error(data: bytes) -> None:
    try:
        request = decode_infer_request(data)
    except ProtocolError:
        return
    for tensor in request.inputs:  # whatever decodes holds arrays that match their shapes
        assert isinstance(tensor.data, np.ndarray)
        assert list(tensor.data.shape) == tensor.shape


def test_seeds_decode() -> None:
    for seed in SEEDS:
        decode_infer_request(seed)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_garbage_bytes(data: bytes) -> None:
    _decode_or_protocol_error(data)


@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.sampled_from(SEEDS),
    edits=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=4),
    cut=st.integers(0, 10_000),
)
def test_mutated_requests(seed: bytes, edits: list[tuple[int, int]], cut: int) -> None:
    data = bytearray(seed)
    for pos, value in edits:
        data[pos % len(data)] = value
    _decode_or_protocol_error(bytes(data[: max(1, cut % (len(data) + 1))]))


@pytest.mark.parametrize(
    "kind",
    [
        pb.ModelMetadataRequest,
        pb.ModelConfigRequest,
        pb.RepositoryModelLoadRequest,
        pb.RepositoryIndexRequest,
        pb.ModelReadyRequest,
    ],
)
@settings(max_examples=150)
@given(data=st.binary(max_size=80))
def test_garbage_for_betterproto_messages(kind: type, data: bytes) -> None:
    with contextlib.suppress(ProtocolError):
        decode_message(data, kind)


@settings(max_examples=200)
@given(
    st.lists(st.integers(-(2**63), 2**63 - 1), max_size=50),
    st.lists(st.integers(0, 2**64 - 1), max_size=50),
)
def test_typed_varints_decode_exactly(signed: list[int], unsigned: list[int]) -> None:
    msg = tpb.ModelInferRequest(model_name="m")
    for name, datatype, field, values in [
        ("s", "INT64", "int64_contents", signed),
        ("u", "UINT64", "uint64_contents", unsigned),
    ]:
        tensor = msg.inputs.add()
        tensor.name, tensor.datatype = name, datatype
        tensor.shape.append(len(values))
        getattr(tensor.contents, field).extend(values)
    request = decode_infer_request(msg.SerializeToString())
    assert request.inputs[0].data.tolist() == signed
    assert request.inputs[1].data.tolist() == unsigned
