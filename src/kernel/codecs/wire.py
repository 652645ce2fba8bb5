"""Between messages and codecs: tensors in and out of requests and responses, the
``content_type`` precedence and the ``content_schema`` parameter.

``content_schema`` is a JSON string (every transport carries a string parameter) mapping tensor
names to ``{"content_type": ..., <meta>}``. It lives in the request's or response's own
``parameters``: per-output parameters would make Triton's C++ client read a JSON output as
binary. Each output also gets ``parameters.content_type``; the REST codec drops it from outputs
sent as JSON, binary and gRPC outputs keep it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

import msgspec

from kernel.codecs.base import CodecError, Meta, Tensor
from kernel.codecs.registry import CodecRegistry
from protocol.messages import (
    UNSET,
    InferenceRequest,
    Parameters,
    RequestInput,
    ResponseOutput,
    UnsetType,
)

__all__ = [
    "CONTENT_TYPE",
    "SCHEMA",
    "check_content_types",
    "content_type_of",
    "read_schema",
    "tensors_from",
    "tensors_to_params",
]

CONTENT_TYPE: Final = "content_type"
SCHEMA: Final = "content_schema"


def content_type_of(parameters: Parameters | UnsetType | None) -> Any:
    """``parameters.content_type``, or ``None``."""
    if not parameters:
        return None
    return parameters.get(CONTENT_TYPE)


def read_schema(parameters: Parameters | UnsetType | None) -> dict[str, Meta]:
    """The ``content_schema`` parameter as ``{tensor: meta}``; ``CodecError`` when malformed."""
    if not parameters or SCHEMA not in parameters:
        return {}
    raw = parameters[SCHEMA]
    try:
        schema = msgspec.json.decode(raw.encode() if isinstance(raw, str) else raw)
    except (msgspec.DecodeError, AttributeError, TypeError) as exc:
        raise CodecError(f"parameters.{SCHEMA} is not a JSON string: {exc}") from None
    if not isinstance(schema, dict) or not all(isinstance(v, dict) for v in schema.values()):
        raise CodecError(f"parameters.{SCHEMA} must map tensor names to objects")
    return schema


def tensors_from(
    items: Sequence[RequestInput | ResponseOutput],
    schema: Mapping[str, Meta],
    registry: CodecRegistry,
    defaults: Mapping[str, str] | None = None,
    kind: str = "input",
) -> list[Tensor]:
    """Tensors of a message's inputs/outputs. A tensor's content type is its own
    ``parameters.content_type``, else the schema's, else ``defaults`` (model settings)."""
    out = []
    for item in items:
        meta = dict(schema.get(item.name) or {})
        ct = content_type_of(item.parameters) or meta.pop(CONTENT_TYPE, None)
        meta.pop(CONTENT_TYPE, None)
        if ct is None and defaults:
            ct = defaults.get(item.name)
        if ct is not None:
            ct = registry.check(ct, f"{kind} {item.name!r}")
        out.append(Tensor(item.name, list(item.shape), item.datatype, item.data, ct, meta))
    return out


def tensors_to_params(
    tensors: Sequence[Tensor], content_type: str | None
) -> Parameters | UnsetType:
    """The message-level ``parameters`` recording ``content_type`` and the schema."""
    params: Parameters = {}
    if content_type is not None:
        params[CONTENT_TYPE] = content_type
    schema = {
        t.name: {CONTENT_TYPE: t.content_type, **t.meta} if t.content_type else dict(t.meta)
        for t in tensors
        if t.content_type or t.meta
    }
    if schema:
        params[SCHEMA] = msgspec.json.encode(schema).decode()
    return params or UNSET


def tensor_params(tensor: Tensor) -> Parameters | UnsetType:
    return {CONTENT_TYPE: tensor.content_type} if tensor.content_type else UNSET


def to_outputs(tensors: Sequence[Tensor]) -> list[ResponseOutput]:
    return [ResponseOutput(t.name, t.shape, t.datatype, tensor_params(t), t.data) for t in tensors]


def to_inputs(tensors: Sequence[Tensor]) -> list[RequestInput]:
    return [RequestInput(t.name, t.shape, t.datatype, tensor_params(t), t.data) for t in tensors]


def check_content_types(request: InferenceRequest, registry: CodecRegistry) -> None:
    """Refuse (400) a request naming a content type no codec has, even for a runtime that
    reads the messages itself: an unknown content type must not pass silently."""
    if request.parameters and CONTENT_TYPE in request.parameters:
        registry.check(request.parameters[CONTENT_TYPE], "the request parameters")
    for item in request.inputs:
        if item.parameters and CONTENT_TYPE in item.parameters:
            registry.check(item.parameters[CONTENT_TYPE], f"input {item.name!r}")
