"""The gRPC codec: protobuf bytes and betterproto messages <-> the Structs of ``protocol.messages``.

Inference has a bytes-level fast path (``decode_infer_request`` / ``encode_infer_response``) that
reads and writes ModelInferRequest / ModelInferResponse directly, because generated pure-Python
code decodes large repeated numeric fields very slowly. Every other message goes through the
betterproto classes in ``protocol._proto`` (generated from ``src/protocol/inference.proto`` by
``tox -e proto``) and the converters re-exported here.

Input tensors may arrive as ``raw_input_contents`` (zero-copy views) or typed ``contents``;
responses always carry ``raw_output_contents``. Every malformed message raises ``ProtocolError``.
"""

from __future__ import annotations

from typing import Any, TypeVar

import betterproto

from protocol._grpc_convert import (
    config_from_proto,
    config_to_proto,
    index_request_from_proto,
    index_request_to_proto,
    index_response_from_proto,
    index_response_to_proto,
    load_request_from_proto,
    metadata_from_proto,
    metadata_to_proto,
    parameter_to_proto,
    parameters_from_proto,
    parameters_to_proto,
    server_metadata_from_proto,
    server_metadata_to_proto,
    unload_request_from_proto,
)
from protocol._grpc_infer import ModelInferCall, encode_infer_response, read_model_infer_request
from protocol._grpc_wire import encode_varint, fields, len_field
from protocol._proto import inference as pb
from protocol.datatypes import get_datatype
from protocol.errors import ProtocolError
from protocol.messages import (
    UNSET,
    InferenceRequest,
    InferenceResponse,
    ResponseOutput,
)
from protocol.tensors import as_tensor_array, tensor_from_raw, tensor_to_raw

__all__ = [
    "ModelInferCall",
    "config_from_proto",
    "config_to_proto",
    "decode_infer_request",
    "decode_message",
    "encode_infer_response",
    "encode_stream_response",
    "index_request_from_proto",
    "index_request_to_proto",
    "index_response_from_proto",
    "index_response_to_proto",
    "infer_request_from_proto",
    "infer_request_to_proto",
    "infer_response_from_proto",
    "infer_response_to_proto",
    "load_request_from_proto",
    "metadata_from_proto",
    "metadata_to_proto",
    "parameter_to_proto",
    "parameters_from_proto",
    "parameters_to_proto",
    "pb",
    "read_model_infer_request",
    "server_metadata_from_proto",
    "server_metadata_to_proto",
    "unload_request_from_proto",
]

M = TypeVar("M", bound=betterproto.Message)


def decode_message(data: bytes, message_type: type[M]) -> M:
    """Parse ``data`` as a betterproto message; any parse failure is a ``ProtocolError``."""
    try:
        # betterproto reads a truncated field as if it were whole: walk the top level strictly.
        for _field in fields(memoryview(data)):
            pass
        return message_type().parse(data)
    except ProtocolError as exc:
        raise ProtocolError(f"{message_type.__name__}: {exc}") from None
    except Exception as exc:  # betterproto raises whatever its reader trips on
        raise ProtocolError(f"malformed {message_type.__name__}: {exc}") from None


def decode_infer_request(data: bytes) -> InferenceRequest:
    """A serialized ModelInferRequest as an InferenceRequest (inputs' ``data`` are ndarrays).

    ``read_model_infer_request`` also returns the model name and version the request addresses.
    """
    return read_model_infer_request(data).request


def encode_stream_response(
    response: bytes | None = None, *, error: str = "", request_id: str = "", model_name: str = ""
) -> bytes:
    """A serialized ModelStreamInferResponse.

    ``response`` is an already encoded ModelInferResponse (``encode_infer_response``). For an
    error, pass ``error`` and the failed request's ``request_id`` / ``model_name``: they are
    echoed in ``infer_response`` so a streaming client can tell which request failed.
    """
    chunks: list[bytes | memoryview] = []
    if error:
        chunks += len_field(1, error.encode())
        if response is None:
            inner: list[bytes | memoryview] = []
            if model_name:
                inner += len_field(1, model_name.encode())
            if request_id:
                inner += len_field(3, request_id.encode())
            response = b"".join(inner)
    if response is not None:
        chunks += [b"\x12", encode_varint(len(response)), response]
    return b"".join(chunks)


# --- message-level inference converters (the slow, convenient path) ----------------------------


def infer_request_from_proto(msg: pb.ModelInferRequest) -> ModelInferCall:
    """A betterproto ModelInferRequest as model name, version and InferenceRequest."""
    return read_model_infer_request(bytes(msg))


def infer_request_to_proto(
    request: InferenceRequest, model_name: str, model_version: str = ""
) -> pb.ModelInferRequest:
    """An InferenceRequest (inputs' ``data`` as arrays) as a ModelInferRequest with raw contents."""
    inputs: list[pb.ModelInferRequestInferInputTensor] = []
    raws: list[bytes] = []
    for item in request.inputs:
        tensor = f"input {item.name!r}"
        row = get_datatype(item.datatype, tensor)
        array = as_tensor_array(item.data, row, item.shape, tensor)
        raws.append(bytes(tensor_to_raw(array, row, tensor)))
        inputs.append(
            pb.ModelInferRequestInferInputTensor(
                name=item.name,
                datatype=item.datatype,
                shape=[int(d) for d in item.shape],
                parameters=parameters_to_proto(item.parameters),
            )
        )
    outputs = [
        pb.ModelInferRequestInferRequestedOutputTensor(
            name=o.name, parameters=parameters_to_proto(o.parameters)
        )
        for o in (request.outputs if isinstance(request.outputs, list) else [])
    ]
    return pb.ModelInferRequest(
        model_name=model_name,
        model_version=model_version,
        id=request.id if isinstance(request.id, str) else "",
        parameters=parameters_to_proto(request.parameters),
        inputs=inputs,
        outputs=outputs,
        raw_input_contents=raws,
    )


def infer_response_to_proto(response: InferenceResponse) -> pb.ModelInferResponse:
    """An InferenceResponse as a betterproto ModelInferResponse (raw output contents)."""
    return decode_message(encode_infer_response(response), pb.ModelInferResponse)


def infer_response_from_proto(msg: pb.ModelInferResponse) -> InferenceResponse:
    """A ModelInferResponse carrying ``raw_output_contents`` as an InferenceResponse."""
    if len(msg.raw_output_contents) != len(msg.outputs):
        raise ProtocolError(
            f"{len(msg.raw_output_contents)} raw_output_contents for {len(msg.outputs)} outputs"
        )
    outputs: list[ResponseOutput] = []
    for out, raw in zip(msg.outputs, msg.raw_output_contents, strict=True):
        shape = list(out.shape)
        data: Any = tensor_from_raw(shape, out.datatype, raw, f"output {out.name!r}")
        outputs.append(
            ResponseOutput(
                name=out.name,
                shape=shape,
                datatype=out.datatype,
                parameters=parameters_from_proto(out.parameters),
                data=data,
            )
        )
    return InferenceResponse(
        model_name=msg.model_name,
        outputs=outputs,
        model_version=msg.model_version if msg.model_version else UNSET,
        id=msg.id if msg.id else UNSET,
        parameters=parameters_from_proto(msg.parameters),
    )
