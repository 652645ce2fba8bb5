"""Whole messages <-> Python values, for the kernel, runtimes and clients.

Server side: ``decode_request`` (what a runtime's request means) and ``encode_response`` (a
runtime's value as a response). Client side, the mirror pair: ``encode_request`` and
``decode_response``. The four use the same codecs and the same ``content_schema`` parameter, so
``decode_response(encode_response(x))`` and ``decode_request(encode_request(x))`` give back ``x``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from kernel.codecs.base import RequestCodec, Tensor
from kernel.codecs.registry import CodecRegistry, default_registry
from kernel.codecs.wire import (
    content_type_of,
    read_schema,
    tensors_from,
    tensors_to_params,
    to_inputs,
    to_outputs,
)
from protocol.messages import InferenceRequest, InferenceResponse

if TYPE_CHECKING:
    from kernel.model_settings import ModelSettings

__all__ = ["decode_request", "decode_response", "encode_request", "encode_response"]


def settings_content_types(settings: ModelSettings | None) -> tuple[str | None, dict[str, str]]:
    """The model settings' request-level content type and per-input ones."""
    if settings is None:
        return None, {}
    per_input = {
        t.name: ct for t in settings.inputs if isinstance(ct := content_type_of(t.parameters), str)
    }
    return settings.parameters.content_type, per_input


def _request_codec(
    chosen: Any, tensors: Sequence[Tensor], registry: CodecRegistry, where: str
) -> RequestCodec:
    if chosen is None:
        chosen = "np" if len(tensors) == 1 else "dict"
    return registry.request(registry.check(chosen, where), f" in {where}")


def decode_request(
    request: InferenceRequest,
    *,
    default: str | None = None,
    settings: ModelSettings | None = None,
    registry: CodecRegistry | None = None,
) -> Any:
    """The request as one value. The request-level codec is the request's
    ``parameters.content_type``, else the settings', else ``default``; without any, a single
    input is decoded with its own content type (``np`` if none) and several as a ``dict``.
    Raises ``CodecError`` (400) naming an unknown content type."""
    registry = registry or default_registry()
    model_ct, per_input = settings_content_types(settings)
    schema = read_schema(request.parameters)
    tensors = tensors_from(request.inputs, schema, registry, per_input)
    chosen = content_type_of(request.parameters) or model_ct or default
    if chosen is None and len(tensors) == 1:
        return registry.tensor(tensors[0].content_type or "np").decode(tensors[0])
    codec = _request_codec(chosen, tensors, registry, "the request parameters")
    return codec.decode(tensors, registry)


def _encode(
    value: Any, content_type: str | None, registry: CodecRegistry, names: Sequence[str]
) -> tuple[list[Tensor], str | None]:
    if content_type is not None:
        codec = registry.request(registry.check(content_type, "content_type"))
    else:
        found = registry.request_encoder_for(value)
        if found is None:
            name = names[0] if names else "output-0"
            return [registry.encoder_for(value, name).encode(name, value)], None
        codec = found
    return codec.encode(value, registry, names), codec.content_type


def encode_response(
    value: Any,
    *,
    model_name: str = "",
    content_type: str | None = None,
    names: Sequence[str] = (),
    registry: CodecRegistry | None = None,
) -> InferenceResponse:
    """``value`` as a response: a DataFrame one output per column, a dict one per key, an
    array or list one output (named ``names[0]`` or ``output-0``). The response's
    ``parameters`` record the content type and schema a client needs to rebuild ``value``."""
    registry = registry or default_registry()
    tensors, ct = _encode(value, content_type, registry, names)
    return InferenceResponse(
        model_name=model_name,
        outputs=to_outputs(tensors),
        parameters=tensors_to_params(tensors, ct),
    )


def encode_request(
    value: Any,
    *,
    content_type: str | None = None,
    names: Sequence[str] = (),
    registry: CodecRegistry | None = None,
) -> InferenceRequest:
    """``value`` (DataFrame, dict of arrays, array, list of str) as a request; an unnamed
    value's input is ``names[0]`` or ``input-0``."""
    registry = registry or default_registry()
    tensors, ct = _encode(value, content_type, registry, names or ("input-0",))
    return InferenceRequest(inputs=to_inputs(tensors), parameters=tensors_to_params(tensors, ct))


def decode_response(response: InferenceResponse, *, registry: CodecRegistry | None = None) -> Any:
    """The value a response encodes: with the response's ``content_type`` its request-level
    codec, else a single output's own codec, else a dict of every output."""
    registry = registry or default_registry()
    tensors = tensors_from(
        response.outputs, read_schema(response.parameters), registry, kind="output"
    )
    chosen = content_type_of(response.parameters)
    if chosen is None and len(tensors) == 1:
        return registry.tensor(tensors[0].content_type or "np").decode(tensors[0])
    return _request_codec(chosen, tensors, registry, "the response parameters").decode(
        tensors, registry
    )
