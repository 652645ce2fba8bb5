"""The fast path for an all-JSON inference request: one typed parse, one C call per input.

``protocol.rest.decode_infer_request`` is ``with_json_fast_path(general)``. A body without
``Inference-Header-Content-Length`` is tried here first, and taken whole or not at all: whatever
the fast path does not take (nested ``data``, a datatype JSON cannot carry, binary-extension
parameters, a value of the wrong kind or out of range, an element count that does not match the
shape, malformed JSON, ...) goes to the general decoder unchanged, which parses it again and
names exactly what is wrong. So this module never words an error; it must accept exactly what
the general path accepts and build identical arrays (tests/protocol/test_json_fast.py).

Why it is cheaper (benchmarks/README.md, "Protocol codecs"):

- The body is parsed once into Structs with one input class per datatype (a tagged union on
  ``datatype``), so msgspec checks every value's JSON kind in C while parsing: ``list[float]``
  refuses strings, booleans and nulls, ``list[int]`` floats and booleans, ``list[bool]`` numbers.
  Shape bounds are ``Meta`` constraints. These Structs are not GC-tracked (plain decoded JSON).
- ``struct`` then packs the values straight into the new array with one C call that also checks
  ranges: an integer outside its type, or a float that rounds to infinity in FP16/FP32, raises.
  JSON cannot spell infinity or NaN, so nothing else can be out of range. That is ~110
  instructions a value, against 200-300 for numpy building an array from a list.
"""

from __future__ import annotations

import math
import struct
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Final, Protocol, Union, cast

import msgspec
import numpy as np
import numpy.typing as npt
from msgspec import UNSET, Meta, Struct, UnsetType

from protocol import messages as m
from protocol._shape import MAX_DIMS, MAX_ELEMENTS
from protocol.datatypes import DATATYPES

__all__ = ["RequestDecoder", "with_json_fast_path"]

Body = bytes | bytearray | memoryview

#: ``struct`` codes of the fixed-size datatypes JSON can carry ('<': little-endian, standard
#: sizes, as the table's dtypes are on any host). BYTES has none: ``_text`` builds it.
_CODES: Final = {
    "BOOL": "?",
    "UINT8": "B",
    "UINT16": "H",
    "UINT32": "I",
    "UINT64": "Q",
    "INT8": "b",
    "INT16": "h",
    "INT32": "i",
    "INT64": "q",
    "FP16": "e",
    "FP32": "f",
    "FP64": "d",
}
_ELEMENT: Final[dict[str, Any]] = {"bool": bool, "int": int, "float": float, "str": str}
#: A packer (``struct.Struct``) is kept for this many element counts per datatype: building its
#: format costs as much as packing 4 values; for counts beyond, it is built for the call.
_KEPT_PACKERS: Final = 256
# A shape the general path accepts: at most MAX_DIMS dims, each within [0, MAX_ELEMENTS]. Its
# product must also equal the element count, which is checked before anything is allocated.
_Shape = Annotated[list[Annotated[int, Meta(ge=0, le=MAX_ELEMENTS)]], Meta(max_length=MAX_DIMS)]

_Spec = tuple[str, np.dtype[Any], dict[int, struct.Struct] | None]


class _Input(Struct, tag_field="datatype", kw_only=True, gc=False):
    """One input; subclassed per datatype (the tag), narrowing ``data``."""

    name: str
    shape: _Shape
    data: list[Any]
    parameters: m.Parameters | UnsetType = UNSET

    #: (datatype, numpy dtype, packers by element count; None for BYTES): one attribute read.
    spec: ClassVar[_Spec]


def _input_class(datatype: str) -> type[_Input]:
    row = DATATYPES[datatype]
    element = _ELEMENT[row.json or "str"]
    spec: _Spec = (datatype, row.dtype, {} if datatype in _CODES else None)
    cls = msgspec.defstruct(
        f"_{datatype}Input",
        [("data", list[element])],  # type: ignore[valid-type]
        bases=(_Input,),
        tag=datatype,
        namespace={"spec": spec},
    )
    return cast(type[_Input], cls)


_INPUTS: Final = {name: _input_class(name) for name, row in DATATYPES.items() if row.json}

if TYPE_CHECKING:
    _AnyInput = _Input
else:
    _AnyInput = Union[tuple(_INPUTS.values())]  # noqa: UP007 (built from a tuple of classes)


class _Request(Struct, kw_only=True, gc=False):
    """The request; subclassed per decoder, narrowing ``inputs``."""

    inputs: list[_AnyInput]
    id: str | UnsetType = UNSET
    parameters: m.Parameters | UnsetType = UNSET
    outputs: list[m.RequestOutput] | UnsetType = UNSET


Decoder = msgspec.json.Decoder[_Request]


def _decoder(inputs: Any, name: str) -> Decoder:
    cls = msgspec.defstruct(name, [("inputs", list[inputs])], bases=(_Request,))
    return msgspec.json.Decoder(cast(type[_Request], cls))


# Two kinds of decoder. The union one takes any mix of datatypes, but for each input msgspec must
# first look ahead for the "datatype" key, then parse the object from its start: up to a quarter
# of a 1x4 request's parse time. A decoder per datatype takes only inputs of that one, checking
# the tag where it stands. A server sees the same model's inputs again and again, so that decoder
# is tried first once _STREAK requests in a row had only its datatype. When it is the wrong one it
# fails at the first foreign "datatype" it meets (or, when "data" comes first, after parsing that
# input's data), and the union decoder, tried first from then on, parses the body: traffic that
# mixes datatypes costs the union's look-ahead, not a failed parse per request.
_UNION: Final = _decoder(_AnyInput, "_AnyRequest")
_SINGLE: Final = {cls: _decoder(cls, f"_{name}Request") for name, cls in _INPUTS.items()}
_STREAK: Final = 3
_PARSE_ERRORS: Final = (msgspec.DecodeError, UnicodeDecodeError, RecursionError)


class _Choice:
    """Which decoder to try first (module state: the last requests' datatypes)."""

    decoder: Decoder = _SINGLE[_INPUTS["FP32"]]  # FP32: the usual JSON datatype
    last: type[_Input] | None = None  # the one datatype of the last union-decoded request
    streak = 0  # how many union-decoded requests in a row had only that one

    @classmethod
    def after_union(cls, inputs: list[_Input], missed: bool) -> None:
        """The union decoder took ``inputs``; ``missed``: the decoder tried first had failed."""
        kinds = {type(tensor) for tensor in inputs}
        kind = kinds.pop() if len(kinds) == 1 else None
        cls.streak = cls.streak + 1 if kind is cls.last and kind is not None else 1
        cls.last = kind
        if missed or kind is None:
            cls.decoder = _UNION
        elif cls.streak >= _STREAK:
            cls.decoder = _SINGLE[kind]


_OBJECT: Final = np.dtype(object)
# Module-level names: a global read is cheaper than a module attribute on the hot path.
_prod: Final = math.prod
_empty: Final = np.empty
_RequestInput: Final = m.RequestInput
_InferenceRequest: Final = m.InferenceRequest


def _packer(datatype: str, count: int) -> struct.Struct:
    packer = struct.Struct(f"<{count}{_CODES[datatype]}")
    packers = _INPUTS[datatype].spec[2]
    if packers is not None and len(packers) < _KEPT_PACKERS:
        packers[count] = packer
    return packer


def _text(data: list[str], shape: list[int], count: int) -> npt.NDArray[np.object_] | None:
    """BYTES: each string's UTF-8 in an object array, as the general path stores them."""
    try:
        encoded = [value.encode() for value in data]
    except UnicodeEncodeError:  # a lone surrogate, from a "\ud800" escape
        return None
    flat = np.empty(count, dtype=_OBJECT)
    flat[:] = encoded
    return flat.reshape(shape)


class RequestDecoder(Protocol):
    """The signature of ``protocol.rest.decode_infer_request``."""

    def __call__(self, body: Body, header_length: int | None = None) -> m.InferenceRequest: ...


def with_json_fast_path(general: RequestDecoder) -> RequestDecoder:
    """``general`` (which decodes every request) behind the fast path for all-JSON bodies.

    The fast path is the returned function's own body rather than a function it calls: one more
    Python call would cost ~5 % of a 1x4 request. What it does not take goes to ``general``.
    """

    def decode_infer_request(body: Body, header_length: int | None = None) -> m.InferenceRequest:
        if header_length is not None:
            return general(body, header_length)
        decoder = _Choice.decoder
        try:
            wire = decoder.decode(body)
        except msgspec.ValidationError:  # maybe only the wrong datatype for this decoder
            if decoder is _UNION:
                return general(body, None)
            try:
                wire = _UNION.decode(body)
            except _PARSE_ERRORS:
                return general(body, None)
            _Choice.after_union(wire.inputs, missed=True)
        except _PARSE_ERRORS:  # not JSON at all: no decoder would take it
            return general(body, None)
        else:
            if decoder is _UNION:
                _Choice.after_union(wire.inputs, missed=False)
        inputs = []
        for tensor in wire.inputs:
            data, shape, parameters = tensor.data, tensor.shape, tensor.parameters
            count = len(data)
            if count != _prod(shape):
                return general(body, None)
            if not count and _prod([d or 1 for d in shape]) > MAX_ELEMENTS:
                # Empty, but numpy cannot build it: the general path's shape check says so.
                return general(body, None)
            if parameters is not UNSET and "binary_data_size" in parameters:
                return general(body, None)  # "has both data and binary_data_size"
            datatype, dtype, packers = tensor.spec
            array: Any
            if packers is None:
                array = _text(data, shape, count)
                if array is None:
                    return general(body, None)
            else:
                array = _empty(shape, dtype)
                try:
                    (packers.get(count) or _packer(datatype, count)).pack_into(array, 0, *data)
                except (struct.error, OverflowError):  # out of range for the datatype
                    return general(body, None)
            # Positional: cheaper on the hot path (the field order is pinned by a test).
            inputs.append(_RequestInput(tensor.name, shape, datatype, parameters, array))
        return _InferenceRequest(inputs, wire.id, wire.parameters, wire.outputs)

    # It stands for ``general`` in its module: same docs, and a name without "<locals>".
    decode_infer_request.__doc__ = general.__doc__
    decode_infer_request.__module__ = getattr(general, "__module__", __name__)
    decode_infer_request.__qualname__ = "decode_infer_request"
    return decode_infer_request
