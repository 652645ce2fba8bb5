"""betterproto messages <-> protocol Structs for everything except inference tensors."""

from __future__ import annotations

from typing import Any

import betterproto

from protocol._proto import inference as pb
from protocol.errors import ProtocolError
from protocol.messages import (
    UNSET,
    MetadataTensor,
    ModelConfig,
    ModelConfigInput,
    ModelConfigOutput,
    ModelMetadataResponse,
    Parameters,
    RepositoryIndexEntry,
    RepositoryIndexRequest,
    RepositoryLoadRequest,
    RepositoryUnloadRequest,
    ServerMetadataResponse,
)

__all__ = [
    "config_from_proto",
    "config_to_proto",
    "index_request_from_proto",
    "index_request_to_proto",
    "index_response_from_proto",
    "index_response_to_proto",
    "load_request_from_proto",
    "metadata_from_proto",
    "metadata_to_proto",
    "parameter_to_proto",
    "parameters_from_proto",
    "parameters_to_proto",
    "repository_parameters_from_proto",
    "server_metadata_from_proto",
    "server_metadata_to_proto",
    "unload_request_from_proto",
]

_U64 = 1 << 64


# --- parameters --------------------------------------------------------------------------------


def parameter_to_proto(name: str, value: Any) -> pb.InferParameter:
    """One parameter value as an InferParameter (ints past int64 use ``uint64_param``)."""
    if isinstance(value, bool):
        return pb.InferParameter(bool_param=value)
    if isinstance(value, int):
        if -(1 << 63) <= value < (1 << 63):
            return pb.InferParameter(int64_param=value)
        if 0 <= value < _U64:
            return pb.InferParameter(uint64_param=value)
        raise ProtocolError(f"parameter {name!r}: {value} does not fit in 64 bits")
    if isinstance(value, float):
        return pb.InferParameter(double_param=value)
    if isinstance(value, str):
        return pb.InferParameter(string_param=value)
    raise ProtocolError(
        f"parameter {name!r}: {type(value).__name__} values cannot be sent over gRPC "
        "(bool, int, float and str can)"
    )


def parameters_to_proto(params: Parameters | Any) -> dict[str, pb.InferParameter]:
    """A parameters dict (or UNSET) as an InferParameter map."""
    if not isinstance(params, dict):
        return {}
    return {name: parameter_to_proto(name, value) for name, value in params.items()}


def parameters_from_proto(params: dict[str, Any]) -> Parameters | Any:
    """An InferParameter (or ModelRepositoryParameter) map as a dict; UNSET when empty.

    An entry whose oneof is unset carries no value and is left out.
    """
    out: dict[str, Any] = {}
    for name, param in params.items():
        field, value = betterproto.which_one_of(param, "parameter_choice")
        if field:
            out[name] = value
    return out if out else UNSET


def repository_parameters_from_proto(params: dict[str, pb.ModelRepositoryParameter]) -> Any:
    """Repository load/unload parameters; ``bytes_param`` (``file:<path>``) stays bytes."""
    return parameters_from_proto(params)


# --- metadata ----------------------------------------------------------------------------------


def server_metadata_to_proto(msg: ServerMetadataResponse) -> pb.ServerMetadataResponse:
    return pb.ServerMetadataResponse(
        name=msg.name, version=msg.version, extensions=list(msg.extensions)
    )


def server_metadata_from_proto(msg: pb.ServerMetadataResponse) -> ServerMetadataResponse:
    return ServerMetadataResponse(
        name=msg.name, version=msg.version, extensions=list(msg.extensions)
    )


def _tensors_to_proto(
    tensors: list[MetadataTensor],
) -> list[pb.ModelMetadataResponseTensorMetadata]:
    return [
        pb.ModelMetadataResponseTensorMetadata(
            name=t.name, datatype=t.datatype, shape=[int(d) for d in t.shape]
        )
        for t in tensors
    ]


def metadata_to_proto(msg: ModelMetadataResponse) -> pb.ModelMetadataResponse:
    """Model metadata; per-tensor ``parameters`` have no gRPC field and are left out."""
    return pb.ModelMetadataResponse(
        name=msg.name,
        versions=list(msg.versions) if isinstance(msg.versions, list) else [],
        platform=msg.platform,
        inputs=_tensors_to_proto(msg.inputs),
        outputs=_tensors_to_proto(msg.outputs),
        properties=dict(msg.properties) if isinstance(msg.properties, dict) else {},
    )


def metadata_from_proto(msg: pb.ModelMetadataResponse) -> ModelMetadataResponse:
    def tensors(items: list[pb.ModelMetadataResponseTensorMetadata]) -> list[MetadataTensor]:
        return [
            MetadataTensor(name=t.name, datatype=t.datatype, shape=list(t.shape)) for t in items
        ]

    return ModelMetadataResponse(
        name=msg.name,
        platform=msg.platform,
        versions=list(msg.versions) if msg.versions else UNSET,
        inputs=tensors(msg.inputs),
        outputs=tensors(msg.outputs),
        properties=dict(msg.properties) if msg.properties else UNSET,
    )


# --- model configuration -----------------------------------------------------------------------


def _data_type(name: str, tensor: str) -> pb.DataType:
    try:
        return pb.DataType.from_string(name)
    except ValueError:
        raise ProtocolError(f"{tensor}: unknown model-config data_type {name!r}") from None


def config_to_proto(config: ModelConfig) -> pb.ModelConfig:
    """Triton's ModelConfig message from the Struct; ``data_type`` strings become enum values."""
    return pb.ModelConfig(
        name=config.name,
        platform=config.platform,
        backend=config.backend,
        max_batch_size=config.max_batch_size,
        input=[
            pb.ModelInput(
                name=i.name,
                data_type=_data_type(i.data_type, f"config input {i.name!r}"),
                dims=[int(d) for d in i.dims],
                optional=i.optional,
            )
            for i in config.input
        ],
        output=[
            pb.ModelOutput(
                name=o.name,
                data_type=_data_type(o.data_type, f"config output {o.name!r}"),
                dims=[int(d) for d in o.dims],
            )
            for o in config.output
        ],
    )


def _enum_name(value: int) -> str:
    try:
        name = pb.DataType(value).name
    except ValueError:
        name = None
    if name is None:
        raise ProtocolError(f"unknown model-config data_type value {value}")
    return name


def config_from_proto(msg: pb.ModelConfig) -> ModelConfig:
    return ModelConfig(
        name=msg.name,
        platform=msg.platform,
        backend=msg.backend,
        max_batch_size=msg.max_batch_size,
        input=[
            ModelConfigInput(
                name=i.name,
                data_type=_enum_name(i.data_type),
                dims=list(i.dims),
                optional=i.optional,
            )
            for i in msg.input
        ],
        output=[
            ModelConfigOutput(name=o.name, data_type=_enum_name(o.data_type), dims=list(o.dims))
            for o in msg.output
        ],
    )


# --- model repository --------------------------------------------------------------------------


def index_request_from_proto(msg: pb.RepositoryIndexRequest) -> RepositoryIndexRequest:
    return RepositoryIndexRequest(ready=msg.ready, repository_name=msg.repository_name)


def index_request_to_proto(msg: RepositoryIndexRequest) -> pb.RepositoryIndexRequest:
    return pb.RepositoryIndexRequest(repository_name=msg.repository_name, ready=msg.ready)


def index_response_to_proto(entries: list[RepositoryIndexEntry]) -> pb.RepositoryIndexResponse:
    return pb.RepositoryIndexResponse(
        models=[
            pb.RepositoryIndexResponseModelIndex(
                name=e.name, version=e.version, state=e.state, reason=e.reason
            )
            for e in entries
        ]
    )


def index_response_from_proto(msg: pb.RepositoryIndexResponse) -> list[RepositoryIndexEntry]:
    return [
        RepositoryIndexEntry(name=m.name, version=m.version, state=m.state, reason=m.reason)
        for m in msg.models
    ]


def _model_name(msg: pb.RepositoryModelLoadRequest | pb.RepositoryModelUnloadRequest) -> str:
    # kserve's schema has model_name = 1, where Triton's has repository_name (PROTOCOL.md §5).
    name = msg.model_name or msg.repository_name
    if not name:
        raise ProtocolError("model_name is required")
    return name


def load_request_from_proto(
    msg: pb.RepositoryModelLoadRequest,
) -> tuple[str, RepositoryLoadRequest]:
    """The model name and the load request (kserve layout accepted)."""
    params = repository_parameters_from_proto(msg.parameters)
    return _model_name(msg), RepositoryLoadRequest(parameters=params)


def unload_request_from_proto(
    msg: pb.RepositoryModelUnloadRequest,
) -> tuple[str, RepositoryUnloadRequest]:
    """The model name and the unload request (kserve layout accepted)."""
    params = repository_parameters_from_proto(msg.parameters)
    return _model_name(msg), RepositoryUnloadRequest(parameters=params)
