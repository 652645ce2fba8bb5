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
  These Structs are not GC-tracked (plain decoded JSON). Shapes are checked after the parse
  (``msgspec.Meta`` bounds cost ~200 instructions a request): a product equal to a nonzero
  element count bounds every dim, numpy refuses negative ones, and the rest get
  ``element_count``, the general path's own check.
- The usual request (one input, its datatype the one the decoder tried first expects) is built
  without a Python call besides numpy's and ``struct``'s; its list of inputs is reused.
- ``struct`` then packs the values straight into the new array with one C call that also checks
  ranges: an integer outside its type, or a float that rounds to infinity in FP16/FP32, raises.
  JSON cannot spell infinity or NaN, so nothing else can be out of range. That is ~110
  instructions a value, against 200-300 for numpy building an array from a list.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, Final, Protocol, Union, cast

import msgspec
import numpy as np
import numpy.typing as npt
from msgspec import UNSET, Struct, UnsetType

from protocol import messages as m
from protocol._shape import MAX_DIMS, element_count
from protocol.datatypes import DATATYPES
from protocol.errors import ProtocolError

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
#: A packer (a ``struct.Struct``'s ``pack_into``) is kept for this many element counts per
#: datatype: building its format costs as much as packing 4 values; beyond, one is built per call.
_KEPT_PACKERS: Final = 256

_Packers = dict[int, Callable[..., None]]
_Spec = tuple[str, np.dtype[Any], _Packers]


class _Input(Struct, tag_field="datatype", kw_only=True, gc=False):
    """One input; subclassed per datatype (the tag), narrowing ``data``."""

    name: str
    shape: list[int]
    data: list[Any]
    parameters: m.Parameters | UnsetType = UNSET

    #: (datatype, numpy dtype, packers' ``pack_into`` by element count, never 0; BYTES: none).
    spec: ClassVar[_Spec]


def _input_class(datatype: str) -> type[_Input]:
    row = DATATYPES[datatype]
    element = _ELEMENT[row.json or "str"]
    spec: _Spec = (datatype, row.dtype, {})
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
_PACK_ERRORS: Final = (struct.error, OverflowError, ValueError)
_OBJECT: Final = np.dtype(object)


class _Choice:
    """Which decoder one fast path tries first: state from its last requests' datatypes."""

    __slots__ = ("last", "now", "streak")

    def __init__(self) -> None:
        fp32 = _INPUTS["FP32"]  # the usual JSON datatype
        #: (decoder, *the spec of its one datatype), read as one; the union decoder has no
        #: packers (and no datatype).
        self.now: tuple[Decoder, str, np.dtype[Any], _Packers | None] = (_SINGLE[fp32], *fp32.spec)
        self.last: type[_Input] | None = None  # the one datatype of the last union-decoded body
        self.streak = 0  # how many union-decoded bodies in a row had only that one

    def union(self, body: Body) -> _Request | None:
        """``body`` parsed by the union decoder after the one tried first refused it."""
        try:
            wire = _UNION.decode(body)
        except _PARSE_ERRORS:
            return None
        self.after_union(wire.inputs, missed=True)
        return wire

    def after_union(self, inputs: list[_Input], missed: bool) -> None:
        """The union decoder took ``inputs``; ``missed``: the decoder tried first had failed."""
        kinds = {type(tensor) for tensor in inputs}
        kind = kinds.pop() if len(kinds) == 1 else None
        self.streak = self.streak + 1 if kind is self.last and kind is not None else 1
        self.last = kind
        if missed or kind is None:
            self.now = (_UNION, "", _OBJECT, None)
        elif self.streak >= _STREAK:
            self.now = (_SINGLE[kind], *kind.spec)


# Module-level names: a global read is cheaper than a module attribute on the hot path.
_prod: Final = math.prod
_empty: Final = np.empty
_RequestInput: Final = m.RequestInput
_InferenceRequest: Final = m.InferenceRequest


def _pack_into(datatype: str, count: int) -> Callable[..., None]:
    """``pack_into`` of the packer for ``count`` values, kept for up to _KEPT_PACKERS counts.

    Count 0 is never kept, so that an empty tensor never takes the inline path, which does not
    check the shape of one (see ``_inputs``).
    """
    pack_into = struct.Struct(f"<{count}{_CODES[datatype]}").pack_into
    packers = _INPUTS[datatype].spec[2]
    if count and len(packers) < _KEPT_PACKERS:
        packers[count] = pack_into
    return pack_into


def _text(data: list[str], shape: list[int], count: int) -> npt.NDArray[np.object_] | None:
    """BYTES: each string's UTF-8 in an object array, as the general path stores them."""
    try:
        encoded = [value.encode() for value in data]
    except UnicodeEncodeError:  # a lone surrogate, from a "\ud800" escape
        return None
    flat = np.empty(count, dtype=_OBJECT)
    flat[:] = encoded
    return flat.reshape(shape)


def _inputs(tensors: list[_Input]) -> list[m.RequestInput] | None:
    """Every input, or None when one is not for the fast path (the general path then says why)."""
    inputs = []
    for tensor in tensors:
        data, shape, parameters = tensor.data, tensor.shape, tensor.parameters
        count = len(data)
        try:
            if count != element_count(shape, ""):  # and every check of the shape itself
                return None
        except ProtocolError:
            return None
        if parameters is not UNSET and "binary_data_size" in parameters:
            return None  # "has both data and binary_data_size"
        datatype, dtype, packers = tensor.spec
        array: Any
        if dtype is _OBJECT:  # BYTES
            array = _text(data, shape, count)
            if array is None:
                return None
        else:
            array = _empty(shape, dtype)
            try:
                (packers.get(count) or _pack_into(datatype, count))(array, 0, *data)
            except _PACK_ERRORS:  # out of range for the datatype
                return None
        # Positional: cheaper on the hot path (the field order is pinned by a test).
        inputs.append(_RequestInput(tensor.name, shape, datatype, parameters, array))
    return inputs


class RequestDecoder(Protocol):
    """The signature of ``protocol.rest.decode_infer_request``."""

    def __call__(self, body: Body, header_length: int | None = None) -> m.InferenceRequest: ...


def with_json_fast_path(general: RequestDecoder) -> RequestDecoder:
    """``general`` (which decodes every request) behind the fast path for all-JSON bodies.

    Each returned function keeps its own choice of decoder. The usual request (one numeric input
    without parameters, parsed by the decoder tried first, of an element count seen before) is
    built in the function's own body: at 1x4 every Python call or bytecode there is a visible
    share of the ~15,000 instructions the whole decode costs. Every other one goes through
    ``_inputs``; what that does not take, to ``general``.
    """
    choice = _Choice()

    def decode_infer_request(body: Body, header_length: int | None = None) -> m.InferenceRequest:
        if header_length is None:
            decoder, datatype, dtype, packers = choice.now
            wire: _Request | None
            try:
                wire = decoder.decode(body)
                tensors: list[Any] = wire.inputs  # reused for the result's inputs
                (tensor,) = tensors  # the usual request: a ValueError when it is not
            except msgspec.ValidationError:  # maybe only the wrong datatype for this decoder
                wire = None if packers is None else choice.union(body)
            except _PARSE_ERRORS:  # not JSON at all: no decoder would take it
                wire = None
            except ValueError:  # no input or several: _inputs below
                pass
            else:
                # One input, of the datatype of the decoder (when that is not the union one). A
                # kept packer means a count that is not 0 and a datatype that is not BYTES.
                if packers is not None and tensor.parameters is UNSET:
                    data, shape = tensor.data, tensor.shape
                    count, dims = len(data), len(shape)
                    # The shape's checks: its product must be the count, which is not 0 here, so
                    # every dim is within [-count, count]; numpy refuses a negative one. 2-D, the
                    # usual shape, is counted inline: math.prod costs ~500 instructions.
                    size = (
                        shape[0] * shape[1]
                        if dims == 2
                        else (_prod(shape) if dims <= MAX_DIMS else 0)
                    )
                    if count == size and count in packers:
                        try:
                            array = _empty(shape, dtype)
                            packers[count](array, 0, *data)
                        except _PACK_ERRORS:  # out of range for the datatype, or a negative dim
                            return general(body, None)
                        tensors[0] = _RequestInput(tensor.name, shape, datatype, UNSET, array)
                        return _InferenceRequest(tensors, wire.id, wire.parameters, wire.outputs)
            if wire is not None:
                if packers is None:
                    choice.after_union(wire.inputs, missed=False)
                inputs = _inputs(wire.inputs)
                if inputs is not None:
                    return _InferenceRequest(inputs, wire.id, wire.parameters, wire.outputs)
        return general(body, header_length)

    # It stands for ``general`` in its module: same docs, and a name without "<locals>".
    decode_infer_request.__doc__ = general.__doc__
    decode_infer_request.__module__ = getattr(general, "__module__", __name__)
    decode_infer_request.__qualname__ = "decode_infer_request"
    return decode_infer_request
