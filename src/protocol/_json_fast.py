"""The fast path for an all-JSON inference request: one typed parse, one small call per input.

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
- Each input is built by a builder kept per datatype and shape (``_builder``): the shape was
  checked once, when its builder was made, and the builder's ``struct`` packer refuses a value
  count the shape does not hold. So the usual request (one input, its datatype the one the
  decoder tried first expects, a shape seen before) costs one dict look-up by ``tuple(shape)``
  and one builder call; its list of inputs is reused.
- ``struct`` packs the values straight into the new array with one C call that also checks
  ranges: an integer outside its type, or a float that rounds to infinity in FP16/FP32, raises.
  JSON cannot spell infinity or NaN, so nothing else can be out of range. That is ~110
  instructions a value, against 200-300 for numpy building an array from a list.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, Final, Protocol, Union, cast

import msgspec
import numpy as np
import numpy.typing as npt
from msgspec import UNSET, Struct, UnsetType

from protocol import messages as m
from protocol._shape import element_count
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
#: A builder (see ``_builder``) is kept for this many shapes per datatype: making one (~1 µs)
#: costs about as much as a whole 1x4 decode; beyond, one is made per call.
_KEPT_BUILDERS: Final = 256
#: Up to this many values, a builder names each one in its ``pack_into`` call (see ``_spelled``).
_SPELLED: Final = 16

#: Builds one ``RequestInput`` from (name, shape, parameters, data) of a shape fixed in advance.
_Builder = Callable[[str, list[int], "m.Parameters | UnsetType", list[Any]], m.RequestInput]
_Builders = dict[tuple[int, ...], _Builder]
_Spec = tuple[str, np.dtype[Any], _Builders]


class _Input(Struct, tag_field="datatype", kw_only=True, gc=False):
    """One input; subclassed per datatype (the tag), narrowing ``data``."""

    name: str
    shape: list[int]
    data: list[Any]
    parameters: m.Parameters | UnsetType = UNSET

    #: (datatype, numpy dtype, builders by shape; BYTES: none).
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
        #: (decoder, builders of its one datatype), read as one; the union decoder has none.
        self.now: tuple[Decoder, _Builders | None] = (_SINGLE[fp32], fp32.spec[2])
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
            self.now = (_UNION, None)
        elif self.streak >= _STREAK:
            self.now = (_SINGLE[kind], kind.spec[2])


# Module-level names: a global read is cheaper than a module attribute on the hot path.
_empty: Final = np.empty
_RequestInput: Final = m.RequestInput
_InferenceRequest: Final = m.InferenceRequest


def _starred(dtype: np.dtype[Any], pack_into: Callable[..., None], datatype: str) -> _Builder:
    """A builder that passes the values to ``pack_into`` as ``*data``."""

    def build(
        name: str, shape: list[int], parameters: m.Parameters | UnsetType, data: list[Any]
    ) -> m.RequestInput:
        array = _empty(shape, dtype)
        pack_into(array, 0, *data)  # struct.error unless len(data) is the shape's count
        return _RequestInput(name, shape, datatype, parameters, array)

    return build


@functools.cache
def _spelled(count: int) -> Callable[[np.dtype[Any], Callable[..., None], str], _Builder]:
    """Like ``_starred``, for ``count`` (1 to _SPELLED) values passed to ``pack_into`` one by one.

    ``pack_into(array, 0, *data)`` builds a list, then a tuple, of the arguments: ~800
    instructions, as much as packing the 4 values of a 1x4 request. Unpacked into locals and
    passed by position they cost a few bytecodes, and the unpacking checks the count (ValueError
    before anything is allocated). Compiled once per count (~90 µs), from ``count`` alone.
    """
    values = ", ".join(f"v{i}" for i in range(count))
    source = (
        "def make(dtype, pack_into, datatype):\n"
        "    def build(name, shape, parameters, data):\n"
        f"        {values}, = data\n"
        "        array = empty(shape, dtype)\n"
        f"        pack_into(array, 0, {values})\n"
        "        return request_input(name, shape, datatype, parameters, array)\n"
        "    return build\n"
    )
    namespace: dict[str, Any] = {"empty": _empty, "request_input": _RequestInput}
    # The source is made of ``count`` alone: nothing from a request reaches it.
    exec(compile(source, f"<{__name__} builder of {count} values>", "exec"), namespace)
    return cast(Callable[[np.dtype[Any], Callable[..., None], str], _Builder], namespace["make"])


def _builder(datatype: str, shape: tuple[int, ...]) -> _Builder | None:
    """The builder of ``datatype`` inputs of ``shape``, kept for up to _KEPT_BUILDERS shapes.

    None when the general path refuses the shape itself. A builder raises ValueError or
    ``struct.error`` when ``data`` does not hold the shape's count, and ``struct.error`` or
    OverflowError when a value is out of range for the datatype.
    """
    try:
        count = element_count(shape, "")
    except ProtocolError:
        return None
    pack_into = struct.Struct(f"<{count}{_CODES[datatype]}").pack_into
    make = _spelled(count) if 0 < count <= _SPELLED else _starred
    build = make(DATATYPES[datatype].dtype, pack_into, datatype)
    builders = _INPUTS[datatype].spec[2]
    if len(builders) < _KEPT_BUILDERS:
        builders[shape] = build
    return build


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
        if parameters is not UNSET and "binary_data_size" in parameters:
            return None  # "has both data and binary_data_size"
        datatype, dtype, builders = tensor.spec
        if dtype is _OBJECT:  # BYTES
            try:
                count = element_count(shape, "")
            except ProtocolError:
                return None
            array = _text(data, shape, count) if len(data) == count else None
            if array is None:
                return None
            # Positional: cheaper on the hot path (the field order is pinned by a test).
            inputs.append(_RequestInput(tensor.name, shape, datatype, parameters, array))
            continue
        key = tuple(shape)
        build = builders.get(key) or _builder(datatype, key)
        if build is None:  # a shape the general path refuses
            return None
        try:
            inputs.append(build(tensor.name, shape, parameters, data))
        except _PACK_ERRORS:  # a count the shape does not hold, or a value out of range
            return None
    return inputs


class RequestDecoder(Protocol):
    """The signature of ``protocol.rest.decode_infer_request``."""

    def __call__(self, body: Body, header_length: int | None = None) -> m.InferenceRequest: ...


def with_json_fast_path(general: RequestDecoder) -> RequestDecoder:
    """``general`` (which decodes every request) behind the fast path for all-JSON bodies.

    Each returned function keeps its own choice of decoder. The usual request (one numeric input
    without parameters, parsed by the decoder tried first, of a shape seen before) is built in
    the function's own body with one builder call: at 1x4 every Python call or bytecode there is
    a visible share of the ~14,000 instructions the whole decode costs. Every other one goes
    through ``_inputs``; what that does not take, to ``general``.
    """
    choice = _Choice()

    def decode_infer_request(body: Body, header_length: int | None = None) -> m.InferenceRequest:
        if header_length is None:
            decoder, builders = choice.now
            wire: _Request | None
            try:
                wire = decoder.decode(body)
                tensors: list[Any] = wire.inputs  # reused for the result's inputs
                (tensor,) = tensors  # the usual request: a ValueError when it is not
            except msgspec.ValidationError:  # maybe only the wrong datatype for this decoder
                wire = None if builders is None else choice.union(body)
            except _PARSE_ERRORS:  # not JSON at all: no decoder would take it
                wire = None
            except ValueError:  # no input or several: _inputs below
                pass
            else:
                # One input, of the datatype of the decoder (when that is not the union one). A
                # kept builder means a shape the general path takes.
                if builders is not None and tensor.parameters is UNSET:
                    shape = tensor.shape
                    try:
                        tensors[0] = builders[tuple(shape)](tensor.name, shape, UNSET, tensor.data)
                    except KeyError:  # a shape not kept (yet): _inputs below
                        pass
                    except _PACK_ERRORS:  # a count the shape does not hold, or out of range
                        return general(body, None)
                    else:
                        return _InferenceRequest(tensors, wire.id, wire.parameters, wire.outputs)
            if wire is not None:
                if builders is None:
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
