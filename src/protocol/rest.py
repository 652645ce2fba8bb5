"""The REST codecs: JSON messages and the binary tensor data extension.

An inference body is a JSON header, then (binary extension) the raw blobs of the tensors that
carry ``parameters.binary_data_size``, in the order those tensors appear.
``Inference-Header-Content-Length`` gives the header's length; without it the whole body is JSON.
See PROTOCOL.md §2 and §3.

Every decoder raises only ``ProtocolError`` (msgspec's message, with its ``$.path``, is kept).
Unknown JSON keys are ignored: kserve sends ``"model_name"`` in the body, perf_analyzer
``"id": ""``.
Decoded binary tensors are read-only views of ``body`` (see ``protocol.tensors``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final, TypeVar

import msgspec
import numpy.typing as npt
from msgspec import UNSET, Struct, UnsetType

from protocol import messages as m
from protocol._json_fast import with_json_fast_path
from protocol.datatypes import get_datatype
from protocol.errors import ProtocolError
from protocol.tensors import (
    as_tensor_array,
    tensor_from_json,
    tensor_from_raw,
    tensor_to_json,
    tensor_to_raw,
)

__all__ = [
    "decode_infer_request",
    "decode_infer_response",
    "decode_json",
    "encode_infer_request",
    "encode_infer_response",
    "encode_json",
]

T = TypeVar("T")
Body = bytes | bytearray | memoryview


# --- wire forms of the tensor messages: data left as plain lists until the datatype is known ---


class _WireTensor(Struct):
    name: str
    shape: list[int]
    datatype: str
    parameters: m.Parameters | UnsetType = UNSET
    data: Any = UNSET


class _WireRequest(Struct):
    inputs: list[_WireTensor]
    id: str | UnsetType = UNSET
    parameters: m.Parameters | UnsetType = UNSET
    outputs: list[m.RequestOutput] | UnsetType = UNSET


class _WireResponse(Struct):
    model_name: str
    outputs: list[_WireTensor]
    model_version: str | UnsetType = UNSET
    id: str | UnsetType = UNSET
    parameters: m.Parameters | UnsetType = UNSET


_ENCODER: Final = msgspec.json.Encoder()
_REQUEST: Final = msgspec.json.Decoder(_WireRequest)
_RESPONSE: Final = msgspec.json.Decoder(_WireResponse)
_DECODERS: Final[dict[Any, msgspec.json.Decoder[Any]]] = {
    cls: msgspec.json.Decoder(cls)
    for cls in (
        m.InferenceRequest,
        m.InferenceResponse,
        m.ErrorResponse,
        m.ModelConfig,
        m.ModelMetadataResponse,
        m.ModelReadyResponse,
        m.RepositoryIndexRequest,
        m.RepositoryLoadRequest,
        m.RepositoryUnloadRequest,
        m.ServerLiveResponse,
        m.ServerMetadataResponse,
        m.ServerReadyResponse,
        list[m.RepositoryIndexEntry],
    )
}


# --- other messages ----------------------------------------------------------------------------


def encode_json(message: Any) -> bytes:
    """Any message (Struct, list of Structs, dict) as JSON bytes.

    Tensor messages holding arrays go through ``encode_infer_response``/``encode_infer_request``.
    """
    try:
        return _ENCODER.encode(message)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ProtocolError(f"cannot encode {type(message).__name__} as JSON: {exc}") from exc


def decode_json(body: Body, type: type[T]) -> T:
    """Decode ``body`` into ``type``; an empty body counts as ``{}`` (tritonclient sends none
    for the repository index). Errors become ``ProtocolError`` naming the path."""
    decoder = _DECODERS.get(type)
    if decoder is None:
        decoder = _DECODERS[type] = msgspec.json.Decoder(type)
    if len(body) <= 64 and not bytes(body).strip():
        body = b"{}"
    try:
        result: T = decoder.decode(body)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise ProtocolError(f"invalid {_name(type)}: {exc}") from exc
    return result


def _name(type: Any) -> str:
    return getattr(type, "__name__", str(type))


def _decode_header(decoder: msgspec.json.Decoder[T], header: memoryview, what: str) -> T:
    try:
        result: T = decoder.decode(header)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
        # msgspec reports invalid UTF-8 in a string with the builtin error, without a path.
        hint = " (send non-UTF-8 BYTES as binary data)" if isinstance(exc, UnicodeError) else ""
        raise ProtocolError(f"invalid {what}: {exc}{hint}") from exc
    return result


# --- tensors in a body -------------------------------------------------------------------------


def _header_length(header_length: int | None, size: int) -> int:
    if header_length is None:
        return size
    if type(header_length) is not int:
        raise ProtocolError(f"Inference-Header-Content-Length {header_length!r} is not an integer")
    if not 0 <= header_length <= size:
        raise ProtocolError(
            f"Inference-Header-Content-Length {header_length} is outside the body of {size} bytes"
        )
    return header_length


def _binary_size(parameters: m.Parameters | UnsetType, tensor: str) -> int | None:
    if parameters is UNSET or "binary_data_size" not in parameters:
        return None
    size = parameters["binary_data_size"]
    if type(size) is not int or size < 0:
        raise ProtocolError(
            f"{tensor}: parameters.binary_data_size must be a non-negative integer, got {size!r}"
        )
    return size


def _decode_tensors(
    tensors: Sequence[_WireTensor], body: memoryview, start: int, kind: str, header_given: bool
) -> list[tuple[_WireTensor, npt.NDArray[Any]]]:
    # Answers carry NaN and infinity as null (encode_infer_response); requests may not.
    nulls = kind == "output"
    offset, end_of_body = start, body.nbytes
    decoded = []
    for wire in tensors:
        tensor = f"{kind} {wire.name!r}"
        size = _binary_size(wire.parameters, tensor)
        if size is None:
            if wire.data is UNSET:
                raise ProtocolError(f"{tensor}: has neither data nor parameters.binary_data_size")
            array = tensor_from_json(wire.data, wire.shape, wire.datatype, tensor, nulls=nulls)
        else:
            if wire.data is not UNSET:
                raise ProtocolError(f"{tensor}: has both data and parameters.binary_data_size")
            end = offset + size
            if end > end_of_body:
                hint = "" if header_given else " (no Inference-Header-Content-Length was given)"
                raise ProtocolError(
                    f"{tensor}: binary_data_size {size} runs past the end of the body "
                    f"({end_of_body - offset} bytes left){hint}"
                )
            array = tensor_from_raw(wire.shape, wire.datatype, body[offset:end], tensor)
            offset = end
        decoded.append((wire, array))
    if offset != end_of_body:
        raise ProtocolError(
            f"body has {end_of_body - offset} bytes after the JSON header that no "
            f"{kind}'s binary_data_size accounts for"
        )
    return decoded


def _encode_tensor(
    name: str,
    shape: list[int],
    datatype: str,
    data: Any,
    parameters: m.Parameters | UnsetType,
    binary: bool,
    kind: str,
    blobs: list[bytes | memoryview],
) -> tuple[m.Parameters | UnsetType, Any]:
    """(parameters, data) for the JSON header; appends the blob when ``binary``."""
    tensor = f"{kind} {name!r}"
    row = get_datatype(datatype, tensor)
    array = as_tensor_array(data, row, shape, tensor)
    if binary:
        blob = tensor_to_raw(array, row, tensor)
        blobs.append(blob)
        params = dict(parameters) if parameters is not UNSET else {}
        params["binary_data_size"] = blob.nbytes if isinstance(blob, memoryview) else len(blob)
        return params, UNSET
    # The Triton C++ client reads any output `parameters` object as binary: drop it entirely.
    return UNSET, tensor_to_json(array, row, tensor)


def _finish(header_struct: Any, blobs: list[bytes | memoryview]) -> tuple[bytes, int | None]:
    header = encode_json(header_struct)
    if not blobs:
        return header, None
    return b"".join([header, *blobs]), len(header)


# --- inference ---------------------------------------------------------------------------------


def _decode_infer_request(body: Body, header_length: int | None = None) -> m.InferenceRequest:
    """An ``InferenceRequest`` whose inputs' ``data`` are numpy arrays of their shapes.

    ``header_length`` is the ``Inference-Header-Content-Length`` value (``None`` when absent: all
    JSON). Binary inputs are zero-copy, read-only views of ``body``.
    """
    view = memoryview(body)
    start = _header_length(header_length, view.nbytes)
    wire = _decode_header(_REQUEST, view[:start], "inference request")
    inputs = [
        m.RequestInput(
            name=w.name, shape=w.shape, datatype=w.datatype, parameters=w.parameters, data=arr
        )
        for w, arr in _decode_tensors(wire.inputs, view, start, "input", header_length is not None)
    ]
    return m.InferenceRequest(
        inputs=inputs, id=wire.id, parameters=wire.parameters, outputs=wire.outputs
    )


#: Most all-JSON requests are taken whole by one typed parse (``protocol._json_fast``); the
#: rest, binary ones and every malformed one go through ``_decode_infer_request``, which words
#: the errors.
decode_infer_request: Final = with_json_fast_path(_decode_infer_request)


def _binary_choices(request: m.InferenceRequest | None) -> tuple[bool, dict[str, bool]]:
    if request is None:
        return False, {}
    default = (
        request.parameters is not UNSET and request.parameters.get("binary_data_output") is True
    )
    chosen: dict[str, bool] = {}
    if request.outputs is not UNSET:
        for output in request.outputs:
            if output.parameters is not UNSET and "binary_data" in output.parameters:
                chosen[output.name] = output.parameters["binary_data"] is True
    return default, chosen


def encode_infer_response(
    response: m.InferenceResponse, request: m.InferenceRequest | None = None
) -> tuple[bytes, int | None]:
    """``(body, Inference-Header-Content-Length or None)`` for ``response``.

    An output is binary when the request's matching ``outputs[].parameters.binary_data`` says so,
    or, when that is absent, when request ``parameters.binary_data_output`` is true. Binary
    outputs get ``parameters.binary_data_size``; JSON outputs get flat ``data`` and no
    ``parameters`` at all (the Triton C++ client treats any ``parameters`` as binary).
    """
    default, chosen = _binary_choices(request)
    blobs: list[bytes | memoryview] = []
    outputs = []
    for out in response.outputs:
        params, data = _encode_tensor(
            out.name,
            out.shape,
            out.datatype,
            out.data,
            out.parameters,
            chosen.get(out.name, default),
            "output",
            blobs,
        )
        outputs.append(
            m.ResponseOutput(
                name=out.name, shape=out.shape, datatype=out.datatype, parameters=params, data=data
            )
        )
    return _finish(msgspec.structs.replace(response, outputs=outputs), blobs)


def encode_infer_request(
    request: m.InferenceRequest, binary: bool = True
) -> tuple[bytes, int | None]:
    """The client side: ``(body, Inference-Header-Content-Length or None)`` for ``request``.

    With ``binary`` every input travels as a blob (BF16 and non-UTF-8 BYTES need it); otherwise
    as flat JSON ``data``.
    """
    blobs: list[bytes | memoryview] = []
    inputs = []
    for inp in request.inputs:
        params, data = _encode_tensor(
            inp.name, inp.shape, inp.datatype, inp.data, inp.parameters, binary, "input", blobs
        )
        if not binary and inp.parameters is not UNSET:
            # Keep the caller's parameters, minus a stale size that would now contradict `data`.
            params = {k: v for k, v in inp.parameters.items() if k != "binary_data_size"} or UNSET
        inputs.append(
            m.RequestInput(
                name=inp.name, shape=inp.shape, datatype=inp.datatype, parameters=params, data=data
            )
        )
    return _finish(msgspec.structs.replace(request, inputs=inputs), blobs)


def decode_infer_response(body: Body, header_length: int | None = None) -> m.InferenceResponse:
    """The client side: an ``InferenceResponse`` whose outputs' ``data`` are numpy arrays."""
    view = memoryview(body)
    start = _header_length(header_length, view.nbytes)
    wire = _decode_header(_RESPONSE, view[:start], "inference response")
    outputs = [
        m.ResponseOutput(
            name=w.name, shape=w.shape, datatype=w.datatype, parameters=w.parameters, data=arr
        )
        for w, arr in _decode_tensors(
            wire.outputs, view, start, "output", header_length is not None
        )
    ]
    return m.InferenceResponse(
        model_name=wire.model_name,
        outputs=outputs,
        model_version=wire.model_version,
        id=wire.id,
        parameters=wire.parameters,
    )
