"""The V2 / Open Inference Protocol messages as msgspec Structs.

These Structs are the one in-memory form of every message, whatever the transport. REST decodes
bytes straight into them; gRPC converts its generated messages to and from them in
``protocol.grpc``.

Tensor ``data`` is typed ``Any`` on purpose: on the wire it is a JSON list (or absent, when the
binary extension carries the bytes), but once ``protocol`` has decoded a request every input's
``data`` is a ``numpy.ndarray`` of the tensor's dtype and shape (BYTES: an object array of
``bytes``). Runtimes build outputs the same way: ``ResponseOutput.data`` is an ndarray and the
codecs write it to whichever wire form the caller asked for.

Messages are never mutated after decoding: build a new one with ``msgspec.structs.replace``.
"""

from __future__ import annotations

from typing import Any

import msgspec
from msgspec import UNSET, Struct, UnsetType

__all__ = [
    "UNSET",
    "ErrorResponse",
    "InferenceRequest",
    "InferenceResponse",
    "MetadataTensor",
    "ModelConfig",
    "ModelConfigInput",
    "ModelConfigOutput",
    "ModelMetadataResponse",
    "ModelReadyResponse",
    "Parameters",
    "RepositoryIndexEntry",
    "RepositoryIndexRequest",
    "RepositoryLoadRequest",
    "RepositoryUnloadRequest",
    "RequestInput",
    "RequestOutput",
    "ResponseOutput",
    "ServerLiveResponse",
    "ServerMetadataResponse",
    "ServerReadyResponse",
    "UnsetType",
]

#: A V2 parameters object. The spec allows string, number and boolean values; anything else a
#: client sends is carried along untouched, because servers must ignore what they do not know.
Parameters = dict[str, Any]


# --- inference ---------------------------------------------------------------------------------


class RequestInput(Struct, omit_defaults=True):
    """One input tensor. After decoding, ``data`` is a numpy array of ``shape``."""

    name: str
    shape: list[int]
    datatype: str
    parameters: Parameters | UnsetType = UNSET
    data: Any = UNSET


class RequestOutput(Struct, omit_defaults=True):
    """An output the caller asks for, by name, with per-output parameters (``binary_data``)."""

    name: str
    parameters: Parameters | UnsetType = UNSET


class InferenceRequest(Struct, omit_defaults=True):
    """An inference request. Unknown keys (kserve's ``model_name``) are ignored on decode."""

    inputs: list[RequestInput]
    id: str | UnsetType = UNSET
    parameters: Parameters | UnsetType = UNSET
    outputs: list[RequestOutput] | UnsetType = UNSET


class ResponseOutput(Struct, omit_defaults=True):
    """One output tensor. ``data`` is a numpy array until a codec writes it to the wire."""

    name: str
    shape: list[int]
    datatype: str
    parameters: Parameters | UnsetType = UNSET
    data: Any = UNSET


class InferenceResponse(Struct, omit_defaults=True):
    model_name: str
    outputs: list[ResponseOutput]
    model_version: str | UnsetType = UNSET
    id: str | UnsetType = UNSET
    parameters: Parameters | UnsetType = UNSET


# --- health and metadata -----------------------------------------------------------------------


class ServerLiveResponse(Struct):
    live: bool


class ServerReadyResponse(Struct):
    ready: bool


class ModelReadyResponse(Struct):
    name: str
    ready: bool


class ServerMetadataResponse(Struct):
    name: str
    version: str
    extensions: list[str]


class MetadataTensor(Struct, omit_defaults=True):
    """A tensor in model metadata. Variable dimensions are ``-1``."""

    name: str
    datatype: str
    shape: list[int]
    parameters: Parameters | UnsetType = UNSET


class ModelMetadataResponse(Struct, omit_defaults=True):
    name: str
    platform: str
    versions: list[str] | UnsetType = UNSET
    inputs: list[MetadataTensor] = msgspec.field(default_factory=list)
    outputs: list[MetadataTensor] = msgspec.field(default_factory=list)
    parameters: Parameters | UnsetType = UNSET
    #: OIP's ``properties`` (map<string,string>); Triton clients ignore it.
    properties: dict[str, str] | UnsetType = UNSET


# --- model configuration (the Triton subset perf_analyzer reads) ---------------------------------


class ModelConfigInput(Struct, omit_defaults=True):
    name: str
    data_type: str  # "TYPE_FP32", ... (see ``protocol.datatypes``)
    dims: list[int]
    optional: bool = False


class ModelConfigOutput(Struct, omit_defaults=True):
    name: str
    data_type: str
    dims: list[int]


class ModelConfig(Struct, omit_defaults=True):
    """Triton's ``ModelConfig``, as JSON with proto field names. ``dims`` exclude the batch dim
    when ``max_batch_size`` > 0."""

    name: str
    platform: str = ""
    backend: str = ""
    max_batch_size: int = 0
    input: list[ModelConfigInput] = msgspec.field(default_factory=list)
    output: list[ModelConfigOutput] = msgspec.field(default_factory=list)


# --- model repository --------------------------------------------------------------------------


class RepositoryIndexRequest(Struct, omit_defaults=True):
    ready: bool = False
    repository_name: str = ""


class RepositoryIndexEntry(Struct, omit_defaults=True):
    name: str
    version: str = ""
    state: str = ""
    reason: str = ""


class RepositoryLoadRequest(Struct, omit_defaults=True):
    parameters: Parameters | UnsetType = UNSET


class RepositoryUnloadRequest(Struct, omit_defaults=True):
    parameters: Parameters | UnsetType = UNSET


# --- errors ------------------------------------------------------------------------------------


class ErrorResponse(Struct):
    """The body of every non-200 REST answer."""

    error: str
