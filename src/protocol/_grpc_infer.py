"""ModelInferRequest bytes -> InferenceRequest and InferenceResponse -> ModelInferResponse bytes.

The hot path of gRPC inference, written against the wire format (``protocol._grpc_wire``)
instead of generated classes: raw contents become zero-copy numpy views of the received message,
typed contents are read with ``np.frombuffer`` / a vectorised varint decoder, and the response is
assembled from chunks joined once.
"""

from __future__ import annotations

import struct
from typing import Any, Final, NamedTuple

import numpy as np

from protocol._grpc_wire import (
    I32,
    I64,
    LEN,
    VARINT,
    encode_varint,
    fields,
    key,
    len_field,
    pack_double,
    packed_varints,
    read_varint,
    to_int64,
)
from protocol.datatypes import get_datatype
from protocol.errors import ProtocolError
from protocol.messages import (
    UNSET,
    InferenceRequest,
    InferenceResponse,
    Parameters,
    RequestInput,
    RequestOutput,
    ResponseOutput,
)
from protocol.tensors import as_tensor_array, element_count, tensor_from_raw, tensor_to_raw

__all__ = [
    "ModelInferCall",
    "decode_parameter",
    "encode_infer_response",
    "encode_parameters",
    "read_model_infer_request",
]

_I64_MAX: Final = (1 << 63) - 1
_U64: Final = 1 << 64

#: InferTensorContents field number -> its name, numpy dtype and wire kind.
_CONTENTS: Final[dict[int, tuple[str, str]]] = {
    1: ("bool_contents", "varint"),
    2: ("int_contents", "varint"),
    3: ("int64_contents", "varint"),
    4: ("uint_contents", "varint"),
    5: ("uint64_contents", "varint"),
    6: ("fp32_contents", "<f4"),
    7: ("fp64_contents", "<f8"),
    8: ("bytes_contents", "bytes"),
}


class ModelInferCall(NamedTuple):
    """A decoded ModelInferRequest: the model it addresses and the request itself."""

    model_name: str
    model_version: str
    request: InferenceRequest


def _text(value: int | memoryview, what: str) -> str:
    if not isinstance(value, memoryview):
        raise ProtocolError(f"malformed protobuf: {what} is not length-delimited")
    try:
        return str(value, "utf-8")
    except UnicodeDecodeError:
        raise ProtocolError(f"{what} is not valid UTF-8") from None


def _view(value: int | memoryview, what: str) -> memoryview:
    if not isinstance(value, memoryview):
        raise ProtocolError(f"malformed protobuf: {what} is not length-delimited")
    return value


# --- parameters --------------------------------------------------------------------------------


def decode_parameter(buf: memoryview) -> Any:
    """An InferParameter as a Python value (``None`` when no choice is set)."""
    value: Any = None
    for number, wire, raw in fields(buf):
        if number == 1 and wire == VARINT:
            value = bool(raw)
        elif number == 2 and wire == VARINT:
            value = to_int64(int(raw))
        elif number == 3:
            value = _text(raw, "string_param")
        elif number == 4 and wire == I64:
            value = struct.unpack("<d", int(raw).to_bytes(8, "little"))[0]
        elif number == 5 and wire == VARINT:
            value = raw
    return value


def _read_parameter_entry(buf: memoryview, params: dict[str, Any]) -> None:
    name = ""
    value: Any = None
    for number, _wire, raw in fields(buf):
        if number == 1:
            name = _text(raw, "parameter name")
        elif number == 2:
            value = decode_parameter(_view(raw, f"parameter {name!r}"))
    if value is not None:  # an unset oneof carries nothing a Python value could say
        params[name] = value


def _encode_parameter(name: str, value: Any) -> bytes:
    if isinstance(value, bool):
        body = key(1, VARINT) + (b"\x01" if value else b"\x00")
    elif isinstance(value, int | np.integer):
        value = int(value)
        if -(1 << 63) <= value <= _I64_MAX:
            body = key(2, VARINT) + encode_varint(value % _U64)
        elif value < _U64:
            body = key(5, VARINT) + encode_varint(value)
        else:
            raise ProtocolError(f"parameter {name!r}: {value} does not fit in 64 bits")
    elif isinstance(value, str):
        body = b"".join(len_field(3, value.encode()))
    elif isinstance(value, float | np.floating):
        body = key(4, I64) + pack_double(float(value))
    else:
        raise ProtocolError(
            f"parameter {name!r}: {type(value).__name__} values cannot be sent over gRPC "
            "(bool, int, float and str can)"
        )
    entry = b"".join([*len_field(1, name.encode()), *len_field(2, body)])
    return entry


def encode_parameters(number: int, params: Parameters) -> list[bytes | memoryview]:
    """Chunks of a ``map<string, InferParameter>`` field numbered ``number``."""
    chunks: list[bytes | memoryview] = []
    for name, value in params.items():
        chunks.extend(len_field(number, _encode_parameter(name, value)))
    return chunks


# --- request -----------------------------------------------------------------------------------

#: Packed shapes up to this many bytes are read with a Python loop: a few dims cost less that
#: way than the ~10 numpy calls of the vectorised decoder (which pays off for long fields).
_SMALL_PACKED: Final = 32


def _scan(buf: memoryview) -> list[tuple[int, int, Any]]:
    """Every field of one message, as ``fields`` yields them, in a list.

    The inference messages hold only VARINT and LEN fields, mostly with one-byte tags and
    lengths: this loop reads those inline, without a generator frame per field. Anything else
    (I32/I64 fields, malformed bytes) is left to ``fields``, so its errors are the ones raised.
    """
    out: list[tuple[int, int, Any]] = []
    append = out.append
    pos = 0
    end = len(buf)
    try:
        while pos < end:
            tag = buf[pos]
            if tag >= 0x80:
                tag, pos = read_varint(buf, pos)
            else:
                pos += 1
            number = tag >> 3
            wire = tag & 7
            if number == 0:
                break
            if wire == LEN:
                size = buf[pos]
                if size >= 0x80:
                    size, pos = read_varint(buf, pos)
                else:
                    pos += 1
                stop = pos + size
                if stop > end:
                    break
                append((number, LEN, buf[pos:stop]))
                pos = stop
            elif wire == VARINT:
                value, pos = read_varint(buf, pos)
                append((number, VARINT, value))
            else:
                break
        else:
            return out
    except (IndexError, ProtocolError):
        pass
    return list(fields(buf))  # the general reader: other wire types, or the error to raise


def _packed_shape(buf: memoryview) -> list[int]:
    """A packed ``repeated int64`` shape as Python ints (sign-extended)."""
    if len(buf) > _SMALL_PACKED:
        return [int(v) for v in packed_varints(buf).view(np.int64)]
    if buf and buf[-1] >= 0x80:
        raise ProtocolError("malformed protobuf: truncated packed varint")
    dims: list[int] = []
    pos = 0
    end = len(buf)
    while pos < end:
        value, pos = read_varint(buf, pos)
        dims.append(to_int64(value))
    return dims


def _numbers(
    kind: str, chunks: list[tuple[int, int | memoryview]], tensor: str, field: str
) -> np.ndarray[Any, Any]:
    parts: list[np.ndarray[Any, Any]] = []
    for wire, raw in chunks:
        if wire == LEN:
            assert isinstance(raw, memoryview)
            if kind == "varint":
                parts.append(packed_varints(raw))
            else:
                size = np.dtype(kind).itemsize
                if len(raw) % size:
                    raise ProtocolError(f"{tensor}: {field} length is not a multiple of {size}")
                parts.append(np.frombuffer(raw, dtype=kind))
        elif kind == "varint" and wire == VARINT:
            parts.append(np.array([raw], dtype=np.uint64))
        elif (kind == "<f4" and wire == I32) or (kind == "<f8" and wire == I64):
            size = np.dtype(kind).itemsize
            parts.append(np.frombuffer(int(raw).to_bytes(size, "little"), dtype=kind))
        else:
            raise ProtocolError(f"{tensor}: malformed {field} (wire type {wire})")
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def _typed_array(
    contents: dict[int, list[tuple[int, int | memoryview]]],
    datatype: str,
    shape: list[int],
    tensor: str,
) -> np.ndarray[Any, Any]:
    row = get_datatype(datatype, tensor)
    count = element_count(shape, tensor)
    present = [_CONTENTS[n][0] for n in sorted(contents)]
    if row.contents_field is None:
        raise ProtocolError(
            f"{tensor}: {datatype} can only be sent in raw_input_contents, not typed contents"
        )
    if present != [row.contents_field]:
        got = ", ".join(present) or "no typed contents"
        raise ProtocolError(
            f"{tensor}: datatype {datatype} expects {row.contents_field}, got {got}"
        )
    number = next(iter(contents))
    field, kind = _CONTENTS[number]
    if kind == "bytes":
        items = contents[number]
        if len(items) != count:
            raise ProtocolError(f"{tensor}: {len(items)} elements for shape {shape} ({count})")
        out = np.empty(count, dtype=object)
        for i, (_wire, raw) in enumerate(items):
            out[i] = bytes(_view(raw, field))
        return out.reshape(shape)
    values = _numbers(kind, contents[number], tensor, field)
    if values.size != count:
        raise ProtocolError(f"{tensor}: {values.size} elements for shape {shape} ({count})")
    if kind != "varint":
        return values.reshape(shape)
    if row.name == "BOOL":
        flags: np.ndarray[Any, Any] = values != 0
        return flags.reshape(shape)
    if number in (2, 3):  # int32 / int64 travel sign-extended to 64 bits
        signed = values.view(np.int64)
        if number == 2:
            signed = signed.astype(np.int32)
        values_typed: np.ndarray[Any, Any] = signed
    else:
        values_typed = values if number == 5 else values.astype(np.uint32)
    info = np.iinfo(row.dtype)  # type: ignore[type-var]
    if values_typed.size and (
        int(values_typed.min()) < info.min or int(values_typed.max()) > info.max
    ):
        raise ProtocolError(f"{tensor}: a value in {field} is out of range for {datatype}")
    return values_typed.astype(row.dtype, copy=False).reshape(shape)


def _read_input(buf: memoryview) -> tuple[RequestInput, dict[int, list[tuple[int, Any]]] | None]:
    name = ""
    datatype = ""
    shape: list[int] = []
    params: dict[str, Any] = {}
    contents: dict[int, list[tuple[int, Any]]] | None = None
    for number, wire, raw in _scan(buf):
        if number == 1:
            name = _text(raw, "input name")
        elif number == 2:
            datatype = _text(raw, "input datatype")
        elif number == 3:
            if wire == LEN:
                shape.extend(_packed_shape(_view(raw, "shape")))
            else:
                shape.append(to_int64(int(raw)))
        elif number == 4:
            _read_parameter_entry(_view(raw, "input parameters"), params)
        elif number == 5:
            contents = contents if contents is not None else {}
            for cnum, cwire, craw in fields(_view(raw, "contents")):
                if cnum in _CONTENTS:
                    contents.setdefault(cnum, []).append((cwire, craw))
    tensor_input = RequestInput(
        name=name, shape=shape, datatype=datatype, parameters=params if params else UNSET
    )
    return tensor_input, contents


def _read_output(buf: memoryview) -> RequestOutput:
    name = ""
    params: dict[str, Any] = {}
    for number, _wire, raw in _scan(buf):
        if number == 1:
            name = _text(raw, "output name")
        elif number == 2:
            _read_parameter_entry(_view(raw, "output parameters"), params)
    return RequestOutput(name=name, parameters=params if params else UNSET)


def read_model_infer_request(data: bytes | memoryview) -> ModelInferCall:
    """Decode a serialized ModelInferRequest; every input's ``data`` becomes an ndarray.

    Raw contents are zero-copy views of ``data``. Raises ``ProtocolError`` for malformed bytes,
    missing or mixed raw/typed data, a typed field that does not match the datatype, and sizes
    that do not match shapes; the message names the tensor.
    """
    buf = memoryview(data)
    model_name = model_version = request_id = ""
    params: dict[str, Any] = {}
    inputs: list[tuple[RequestInput, dict[int, list[tuple[int, Any]]] | None]] = []
    outputs: list[RequestOutput] = []
    raws: list[memoryview] = []
    for number, _wire, raw in _scan(buf):
        if number == 1:
            model_name = _text(raw, "model_name")
        elif number == 2:
            model_version = _text(raw, "model_version")
        elif number == 3:
            request_id = _text(raw, "id")
        elif number == 4:
            _read_parameter_entry(_view(raw, "parameters"), params)
        elif number == 5:
            inputs.append(_read_input(_view(raw, "inputs")))
        elif number == 6:
            outputs.append(_read_output(_view(raw, "outputs")))
        elif number == 7:
            raws.append(_view(raw, "raw_input_contents"))
    decoded: list[RequestInput] = []
    if raws and len(raws) != len(inputs):
        raise ProtocolError(
            f"{len(raws)} raw_input_contents for {len(inputs)} inputs: "
            "each input needs exactly one entry, in the same order"
        )
    for index, (tensor_input, contents) in enumerate(inputs):
        tensor = f"input {tensor_input.name!r}"
        # Datatype and shape first, so the message says what is wrong before what is missing.
        get_datatype(tensor_input.datatype, tensor)
        count = element_count(tensor_input.shape, tensor)
        if raws:
            if contents:
                raise ProtocolError(
                    f"{tensor}: typed contents cannot be mixed with raw_input_contents"
                )
            array = tensor_from_raw(tensor_input.shape, tensor_input.datatype, raws[index], tensor)
        elif not contents:
            # Only a tensor without elements may come with no data at all.
            if count != 0:
                raise ProtocolError(f"{tensor}: no data (neither raw_input_contents nor contents)")
            array = tensor_from_raw(tensor_input.shape, tensor_input.datatype, b"", tensor)
        else:
            array = _typed_array(contents, tensor_input.datatype, tensor_input.shape, tensor)
        tensor_input.data = array
        decoded.append(tensor_input)
    request = InferenceRequest(
        inputs=decoded,
        id=request_id if request_id else UNSET,
        parameters=params if params else UNSET,
        outputs=outputs if outputs else UNSET,
    )
    return ModelInferCall(model_name, model_version, request)


# --- response ----------------------------------------------------------------------------------


def _shape_chunks(number: int, shape: list[int]) -> list[bytes | memoryview]:
    if not shape:
        return []
    packed = b"".join([encode_varint(int(d) % _U64) for d in shape])
    return [key(number, LEN), encode_varint(len(packed)), packed]


# One-byte tags of the LEN fields the response writes (field numbers below 16).
_T1: Final = key(1, LEN)
_T2: Final = key(2, LEN)
_T3: Final = key(3, LEN)
_T5: Final = key(5, LEN)
_T6: Final = key(6, LEN)


def _output_head(output: ResponseOutput) -> bytes:
    """The ``InferOutputTensor`` message of one output (name, datatype, shape, parameters)."""
    name = output.name.encode()
    datatype = output.datatype.encode()
    parts: list[bytes | memoryview] = [
        _T1,
        encode_varint(len(name)),
        name,
        _T2,
        encode_varint(len(datatype)),
        datatype,
    ]
    parts += _shape_chunks(3, list(output.shape))
    if isinstance(output.parameters, dict):
        parts += encode_parameters(4, output.parameters)
    return b"".join(parts)


def encode_infer_response(response: InferenceResponse) -> bytes:
    """Serialize an InferenceResponse as a ModelInferResponse.

    Every output's data goes in ``raw_output_contents`` (one entry per output, same order), the
    only form tritonclient and perf_analyzer read. ``ResponseOutput.data`` must be an ndarray (or
    anything ``np.asarray`` accepts) whose size matches ``shape``.
    """
    chunks: list[bytes | memoryview] = []
    if response.model_name:
        name = response.model_name.encode()
        chunks += (_T1, encode_varint(len(name)), name)
    if isinstance(response.model_version, str) and response.model_version:
        version = response.model_version.encode()
        chunks += (_T2, encode_varint(len(version)), version)
    if isinstance(response.id, str) and response.id:
        request_id = response.id.encode()
        chunks += (_T3, encode_varint(len(request_id)), request_id)
    if isinstance(response.parameters, dict):
        chunks += encode_parameters(4, response.parameters)
    raws: list[bytes | memoryview] = []
    for output in response.outputs:
        tensor = f"output {output.name!r}"
        row = get_datatype(output.datatype, tensor)
        array = as_tensor_array(output.data, row, output.shape, tensor)
        raws.append(tensor_to_raw(array, row, tensor))
        head = _output_head(output)
        chunks += (_T5, encode_varint(len(head)), head)
    for raw in raws:
        chunks += (_T6, encode_varint(len(raw)), raw)
    return b"".join(chunks)
