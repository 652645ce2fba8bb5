"""The all-JSON fast path of decode_infer_request (protocol._json_fast) against the general path.

Every body must give the same result both ways: the same request and arrays (values, dtype,
shape, writability), or the same ProtocolError message. And the fast path must take every
well-formed flat request itself: a spy in place of the general decoder sees only the bodies the
fast path hands over.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocol import DATATYPES, InferenceRequest, ProtocolError, messages
from protocol._json_fast import with_json_fast_path
from protocol.rest import _decode_infer_request, decode_infer_request

SETTINGS = settings(
    max_examples=int(os.environ.get("PROTOCOL_FUZZ_EXAMPLES", "300")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    database=None,
)
JSON_TYPES = [name for name, row in DATATYPES.items() if row.json is not None]


class Spy:
    """The general decoder, counting the bodies the fast path hands to it."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, body: Any, header_length: int | None = None) -> InferenceRequest:
        self.calls += 1
        return _decode_infer_request(body, header_length)


def _outcome(decode: Any, body: bytes) -> tuple[str, Any]:
    try:
        request = decode(body)
    except ProtocolError as exc:
        return "error", str(exc)
    return "ok", _plain(request)


def _plain(request: InferenceRequest) -> Any:
    """Everything in a decoded request, arrays as (dtype, shape, writeable, values)."""
    inputs = [
        (
            inp.name,
            inp.shape,
            inp.datatype,
            inp.parameters,
            type(inp) is messages.RequestInput,
            inp.data.dtype.str,
            inp.data.shape,
            inp.data.flags.writeable,
            # Bytes, so that -0.0 against 0.0 or a rounding difference would show.
            inp.data.tolist() if inp.data.dtype == object else inp.data.tobytes(),
        )
        for inp in request.inputs
    ]
    return (
        type(request) is InferenceRequest,
        request.id,
        request.parameters,
        request.outputs,
        inputs,
    )


def _same_both_ways(body: bytes) -> tuple[str, Any, int]:
    """Decode ``body`` with and without the fast path; return the outcome and the spy's count."""
    spy = Spy()
    fast = _outcome(with_json_fast_path(spy), body)
    general = _outcome(lambda b: _decode_infer_request(b, None), body)
    assert fast == general
    return fast[0], fast[1], spy.calls


def _body(*inputs: dict[str, Any], **extra: Any) -> bytes:
    return json.dumps({"inputs": list(inputs), **extra}).encode()


def test_constructors_take_fields_in_the_order_the_fast_path_passes_them() -> None:
    # _json_fast builds these positionally (it is cheaper on the hot path).
    assert messages.RequestInput.__struct_fields__ == (
        "name",
        "shape",
        "datatype",
        "parameters",
        "data",
    )
    assert messages.InferenceRequest.__struct_fields__ == ("inputs", "id", "parameters", "outputs")


def _values(datatype: str, count: int) -> list[Any]:
    kind = DATATYPES[datatype].json
    if kind == "bool":
        return [i % 3 == 0 for i in range(count)]
    if kind == "str":
        return [f"v{i}é" for i in range(count)]
    if kind == "float":
        return [i * 0.75 - 1 for i in range(count)]
    info = np.iinfo(DATATYPES[datatype].dtype.name)
    return [int(info.min), int(info.max), 0, 1, -1 if info.min else 2, 7][:count]


@pytest.mark.parametrize("datatype", JSON_TYPES)
@pytest.mark.parametrize("order", list(itertools.permutations(range(5)))[::7])
def test_every_datatype_and_key_order_is_taken_by_the_fast_path(
    datatype: str, order: tuple[int, ...]
) -> None:
    fields: list[tuple[str, Any]] = [
        ("name", "x"),
        ("shape", [2, 3]),
        ("datatype", datatype),
        ("parameters", {"content_type": "np"}),
        ("data", _values(datatype, 6)),
    ]
    tensor: dict[str, Any] = dict(fields[i] for i in order)
    kind, request, calls = _same_both_ways(_body(tensor, id="a", outputs=[{"name": "y"}]))
    assert (kind, calls) == ("ok", 0)
    (_, shape, got_type, parameters, _, dtype, got_shape, writeable, values) = request[4][0]
    assert (shape, got_type, parameters, got_shape, writeable) == (
        [2, 3],
        datatype,
        {"content_type": "np"},
        (2, 3),
        True,
    )
    row = DATATYPES[datatype]
    data: list[Any] = tensor["data"]
    expected = np.array(
        [v.encode() for v in data] if row.json == "str" else data, dtype=row.dtype
    ).reshape(2, 3)
    assert dtype == expected.dtype.str
    assert values == (expected.tolist() if row.json == "str" else expected.tobytes())


@pytest.mark.parametrize("shape", [[], [0], [3], [1, 0, 2], [1, 1, 1, 2]])
def test_shapes_with_zero_one_or_many_dims(shape: list[int]) -> None:
    count = int(np.prod(shape))
    tensor = {"name": "x", "shape": shape, "datatype": "INT16", "data": list(range(count))}
    kind, request, calls = _same_both_ways(_body(tensor))
    assert (kind, calls) == ("ok", 0)
    assert request[4][0][6] == tuple(shape)


def test_empty_tensor_with_huge_other_dims_gets_the_shape_error() -> None:
    # No element, so the count matches, but numpy refuses to build the array.
    tensor = {"name": "x", "shape": [0] + [2**20] * 11, "datatype": "FP32", "data": []}
    kind, message, calls = _same_both_ways(_body(tensor))
    assert (kind, calls) == ("error", 1)
    assert message.startswith("input 'x': shape [0,1048576,")
    assert "is too large" in message


@pytest.mark.parametrize("data_first", [False, True])
def test_mixed_and_changing_datatypes_are_all_taken(data_first: bool) -> None:
    # The fast path tries one decoder first, chosen by the last requests' datatypes (runs of one
    # datatype, alternation, mixes); whichever it is, every such request must be taken, the same.
    runs = [["FP32"]] * 4 + [["INT64"]] * 4 + [["BOOL"], ["INT8"]] * 3
    runs += [["INT64", "BYTES", "BOOL"]] * 2 + [["FP32"]] * 4 + [["FP32", "FP16"], ["UINT8"]]
    spy = Spy()
    decode = with_json_fast_path(spy)
    for datatypes in runs:
        tensors = [
            {"name": f"in{i}", "shape": [2], "datatype": d, "data": _values(d, 2)}
            for i, d in enumerate(datatypes)
        ]
        if data_first:
            tensors = [{"data": t["data"], **t} for t in tensors]
        body = _body(*tensors)
        assert _plain(decode(body)) == _plain(_decode_infer_request(body, None))
    assert spy.calls == 0


BAD_FLAT = [
    ("FP32", [1.5, True], "a boolean in numbers"),
    ("FP32", [1.5, "2"], "a string in numbers"),
    ("FP32", [1.5, None], "null in a request"),
    ("FP32", [1.5, 3.4028235677973366e38], "rounds to FP32 infinity"),
    ("FP32", [-3.4028235677973366e38, 0], "rounds to FP32 -infinity"),
    ("FP16", [65520.0, 0], "rounds to FP16 infinity"),
    ("INT32", [1, 2.0], "a float in integers"),
    ("INT32", [1, False], "a boolean in integers"),
    ("INT8", [127, 128], "above INT8"),
    ("INT8", [-129, 0], "below INT8"),
    ("UINT8", [-1, 0], "negative UINT8"),
    ("UINT64", [2**64, 0], "above UINT64"),
    ("INT64", [-(2**63) - 1, 0], "below INT64"),
    ("BOOL", [True, 1], "a number in booleans"),
    ("BYTES", ["a", 1], "a number in strings"),
    ("BYTES", ["a", "\ud800"], "a lone surrogate"),
    ("BF16", [1.0, 2.0], "a datatype JSON cannot carry"),
    ("FP8", [1.0, 2.0], "an unknown datatype"),
    ("FP32", [1.0], "too few elements"),
    ("FP32", [1.0, 2.0, 3.0], "too many elements"),
]


@pytest.mark.parametrize(("datatype", "data", "_why"), BAD_FLAT, ids=[c[2] for c in BAD_FLAT])
def test_bad_flat_data_falls_back_to_the_same_error(
    datatype: str, data: list[Any], _why: str
) -> None:
    tensor = {"name": "x", "shape": [2], "datatype": datatype, "data": data}
    kind, message, calls = _same_both_ways(_body(tensor))
    assert (kind, calls) == ("error", 1)
    assert message.startswith(("input 'x': ", "invalid inference request: "))


@pytest.mark.parametrize(
    ("datatype", "data"),
    [
        ("FP32", [3.4028235677973362e38, -3.4028235677973362e38]),  # rounds to FP32's max
        ("FP16", [65519.99, -65519.99]),  # rounds to FP16's max
        ("FP64", [1.7976931348623157e308, 5e-324]),
        ("FP32", [1e-45, 7e-46]),  # subnormal, and rounding to zero
        ("FP16", [6e-8, 2.9e-8]),
        ("FP32", [2**64 + 1, -(10**30)]),  # integers where numbers go
        ("FP64", [2**53 + 1, 10**30]),
    ],
)
def test_values_at_the_edges_of_the_float_types(datatype: str, data: list[Any]) -> None:
    tensor = {"name": "x", "shape": [2], "datatype": datatype, "data": data}
    assert _same_both_ways(_body(tensor))[::2] == ("ok", 0)


OTHER = [
    # (why, body, outcome, whether the fast path hands it over)
    ("nested data", b'[{"name":"x","shape":[2,2],"datatype":"FP32","data":[[1,2],[3,4]]}]', "ok"),
    ("negative dims", b'[{"name":"x","shape":[-1,-2],"datatype":"FP32","data":[1,2]}]', "error"),
    (
        "huge dim, no data",
        b'[{"name":"x","shape":[0,1099511627776],"datatype":"FP32","data":[]}]',
        "error",
    ),
    (
        "33 dims",
        b'[{"name":"x","shape":[' + b"1," * 32 + b'2],"datatype":"FP32","data":[1,2]}]',
        "error",
    ),
    (
        "data and binary_data_size",
        b'[{"name":"x","shape":[2],"datatype":"FP32","data":[1,2],'
        b'"parameters":{"binary_data_size":8}}]',
        "error",
    ),
    (
        "binary_data_size, no body",
        b'[{"name":"x","shape":[2],"datatype":"FP32","parameters":{"binary_data_size":8}}]',
        "error",
    ),
    ("no data", b'[{"name":"x","shape":[2],"datatype":"FP32"}]', "error"),
    ("data not a list", b'[{"name":"x","shape":[2],"datatype":"BYTES","data":"ab"}]', "error"),
    (
        "datatype twice",
        b'[{"name":"x","datatype":"FP32","shape":[2],"data":[1,2],"datatype":"INT8"}]',
        "ok",
    ),
    (
        "data twice",
        b'[{"name":"x","datatype":"INT8","shape":[2],"data":["a","b"],"data":[1,2]}]',
        "ok",
    ),
    ("inputs not objects", b"[1]", "error"),
]


@pytest.mark.parametrize(("inputs", "kind"), [c[1:] for c in OTHER], ids=[c[0] for c in OTHER])
def test_other_requests_give_the_same_result_both_ways(inputs: bytes, kind: str) -> None:
    # None of these is for the fast path; the general path must get each one, unchanged.
    assert _same_both_ways(b'{"inputs":' + inputs + b"}")[::2] == (kind, 1)


def test_malformed_json_gives_the_same_error_both_ways() -> None:
    for body in (b"", b"{", b'{"inputs": [}', b'{"inputs": []}x', b'{"inputs": [], "id": 5}'):
        assert _same_both_ways(body)[::2] == ("error", 1)


def test_deep_nesting_is_a_protocol_error() -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    body = b'{"inputs": [], "parameters": {"a": ' + deep + b"}}"
    with pytest.raises(ProtocolError, match=r"invalid inference request: .*recursion"):
        decode_infer_request(body)


def test_bodies_that_are_not_bytes() -> None:
    body = _body({"name": "x", "shape": [2], "datatype": "INT32", "data": [1, 2]})
    for form in (bytearray(body), memoryview(body)):
        assert decode_infer_request(form).inputs[0].data.tolist() == [1, 2]


# --- properties: random, mostly plausible requests ---------------------------------------------


def _element(datatype: str) -> st.SearchStrategy[Any]:
    row = DATATYPES.get(datatype)
    edge = st.sampled_from([0, 1, -1, 2**63, 2**64, -(2**63) - 1, 65520.0, 3.5e38, 1e-46])
    wrong = st.booleans() | st.none() | st.text(max_size=2) | st.lists(st.integers(), max_size=2)
    if row is None or row.json == "float":
        right: st.SearchStrategy[Any] = st.floats(allow_nan=False, allow_infinity=False)
        right = right | st.integers(-(2**70), 2**70)
    elif row.json == "int":
        info = np.iinfo(row.dtype.name)
        right = st.integers(int(info.min), int(info.max))
    elif row.json == "bool":
        right = st.booleans()
    else:
        right = st.text(max_size=4)
    return st.one_of(right, right, right, right, right, right, edge, wrong)


@st.composite
def tensors(draw: st.DrawFn) -> dict[str, Any]:
    datatype = draw(st.sampled_from([*JSON_TYPES, "BF16", "X"]))
    shape = draw(st.lists(st.integers(0, 3), max_size=3))
    count = int(np.prod(shape)) + draw(st.sampled_from([0, 0, 0, 0, 0, 1, -1]))
    tensor: dict[str, Any] = {
        "name": draw(st.text(max_size=3)),
        "shape": shape,
        "datatype": datatype,
        "data": draw(st.lists(_element(datatype), min_size=max(count, 0), max_size=max(count, 0))),
    }
    if draw(st.integers(0, 4)) == 0:
        tensor["parameters"] = draw(
            st.sampled_from([{"content_type": "x"}, {"binary_data_size": 4}, {}])
        )
    keys = draw(st.permutations(list(tensor)))
    return {key: tensor[key] for key in keys}


@SETTINGS
@given(
    st.lists(tensors(), max_size=3),
    st.sampled_from([{}, {"id": "r"}, {"outputs": [{"name": "o"}]}, {"model_name": "m"}]),
)
def test_fast_path_and_general_path_agree(
    tensors_: list[dict[str, Any]], extra: dict[str, Any]
) -> None:
    kind, _, calls = _same_both_ways(_body(*tensors_, **extra))
    flat = all(
        "binary_data_size" not in t.get("parameters", {})
        and not any(isinstance(v, list) for v in t["data"])
        for t in tensors_
    )
    if kind == "ok" and flat:
        assert calls == 0, "a well-formed flat request went to the general path"


@SETTINGS
@given(st.lists(tensors(), max_size=3))
def test_fast_path_never_raises_anything_but_protocol_error(
    tensors_: list[dict[str, Any]],
) -> None:
    body = _body(*tensors_)
    for cut in (len(body), len(body) // 2, len(body) - 1):
        # A cut body may decode or raise ProtocolError; any other exception fails the test.
        with contextlib.suppress(ProtocolError):
            decode_infer_request(body[:cut])


@SETTINGS
@given(
    st.sampled_from(["FP16", "FP32"]),
    st.lists(st.floats(-70000, 70000) | st.floats(-1e-3, 1e-3) | st.floats(-3.5e38, 3.5e38)),
)
def test_floats_round_the_same_both_ways(datatype: str, data: list[float]) -> None:
    tensor = {"name": "x", "shape": [len(data)], "datatype": datatype, "data": data}
    _same_both_ways(_body(tensor))


# --- the inline path: one input of a count whose packer is kept ---------------------------------


@pytest.mark.parametrize(
    ("shape", "kind"),
    [
        ([-1, -4], "error"),  # product 4, but numpy refuses negative dims
        ([-2, -2], "error"),
        ([-4], "error"),
        ([2, -1, -2], "error"),
        ([1] * 33 + [4], "error"),  # too many dims, though their product is the count
        ([1] * 32, "error"),  # 32 dims holding 1 element, not 4
        ([1] * 31 + [4], "ok"),
        ([4, 1], "ok"),
        ([4], "ok"),
        ([2, 2], "ok"),
    ],
)
def test_inline_path_keeps_every_shape_check(shape: list[int], kind: str) -> None:
    # The 1x4 body first, so that the packer of 4 FP32 values is kept and the inline path (which
    # checks shapes with a product and numpy, not msgspec) takes the next one.
    spy = Spy()
    decode = with_json_fast_path(spy)
    decode(_body({"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}))
    body = _body({"name": "x", "shape": shape, "datatype": "FP32", "data": [1.5, 2, 3, 4]})
    assert _outcome(decode, body) == _outcome(lambda b: _decode_infer_request(b, None), body)
    assert (_outcome(decode, body)[0], spy.calls) == (kind, 0 if kind == "ok" else 2)


def test_no_input_at_all_is_taken() -> None:
    assert _same_both_ways(_body())[::2] == ("ok", 0)


def test_inline_path_result_shares_nothing_with_the_previous_one() -> None:
    body = _body({"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]})
    first, second = decode_infer_request(body), decode_infer_request(body)
    first.inputs[0].data[0, 0] = 9
    first.inputs.append(first.inputs[0])
    assert second.inputs[0].data.tolist() == [[1, 2, 3, 4]]
    assert len(second.inputs) == 1


@pytest.mark.parametrize(
    ("shape", "count"),
    [([1, 4], 3), ([1, 4], 5), ([1, 4], 0), ([16], 17), ([17], 16), ([5, 4], 19), ([5, 4], 21)],
)
def test_kept_shape_with_the_wrong_count_gets_the_general_error(
    shape: list[int], count: int
) -> None:
    # The shape is decoded once with its own count, so its builder is kept (one that names each
    # value up to 16 values, one that passes them as *data beyond); the same shape with another
    # count must then reach the general path and its error, not a wrong array.
    spy = Spy()
    decode = with_json_fast_path(spy)
    size = int(np.prod(shape))
    decode(_body({"name": "x", "shape": shape, "datatype": "FP32", "data": [1.0] * size}))
    body = _body({"name": "x", "shape": shape, "datatype": "FP32", "data": [1.0] * count})
    outcome = _outcome(decode, body)
    assert outcome == _outcome(lambda b: _decode_infer_request(b, None), body)
    assert outcome[0] == "error"
    assert "elements" in outcome[1]
    assert spy.calls == 1
