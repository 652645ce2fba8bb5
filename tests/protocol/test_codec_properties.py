"""Property tests: random tensors round-trip; random or mutated bytes raise only ProtocolError."""

from __future__ import annotations

import contextlib
import json
import os
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from protocol import (
    DATATYPES,
    UNSET,
    InferenceRequest,
    InferenceResponse,
    ProtocolError,
    RequestOutput,
    input_from_numpy,
    output_from_numpy,
)
from protocol.rest import (
    decode_infer_request,
    decode_infer_response,
    encode_infer_request,
    encode_infer_response,
)

# PROTOCOL_FUZZ_EXAMPLES=5000 for a longer hunt; 300 keeps the suite quick.
SETTINGS = settings(
    max_examples=int(os.environ.get("PROTOCOL_FUZZ_EXAMPLES", "300")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    database=None,  # no .hypothesis/ folder left in the repository
)
shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)


@st.composite
def tensors(draw: st.DrawFn, json_only: bool = False) -> np.ndarray[Any, Any]:
    names = [n for n, row in DATATYPES.items() if row.json is not None or not json_only]
    datatype = draw(st.sampled_from(names))
    shape = draw(shapes)
    row = DATATYPES[datatype]
    if datatype == "BYTES":
        elements = st.binary(max_size=8)
        if json_only:
            elements = st.text(max_size=6).map(lambda s: s.encode("utf-8", "surrogatepass"))
            elements = elements.filter(lambda b: _utf8(b))
        values = draw(
            st.lists(elements, min_size=int(np.prod(shape)), max_size=int(np.prod(shape)))
        )
        flat = np.empty(len(values), dtype=object)
        flat[:] = values
        return flat.reshape(shape)
    if datatype == "BF16":
        bits = draw(hnp.arrays(np.uint16, shape))
        return bits.view(row.dtype)
    finite = {"allow_nan": False, "allow_infinity": False} if row.dtype.kind == "f" else {}
    return draw(hnp.arrays(row.dtype, shape, elements=finite or None))


def _utf8(data: bytes) -> bool:
    try:
        data.decode()
    except UnicodeDecodeError:
        return False
    return True


def _same(a: np.ndarray[Any, Any], b: np.ndarray[Any, Any]) -> None:
    assert a.shape == b.shape
    assert a.dtype == b.dtype
    if a.dtype.kind == "V" or a.dtype.name == "bfloat16":
        assert a.view(np.uint16).tolist() == b.view(np.uint16).tolist()
    else:
        np.testing.assert_array_equal(a, b)


def _json_ok(array: np.ndarray[Any, Any]) -> bool:
    """Whether JSON can carry ``array`` (no BF16, BYTES only when UTF-8)."""
    if array.dtype == object:
        return all(_utf8(v) for v in array.flat)
    return DATATYPES[output_from_numpy("o", array).datatype].json is not None


@SETTINGS
@given(st.lists(tensors(), max_size=4), st.booleans())
def test_request_round_trip(arrays: list[np.ndarray[Any, Any]], binary: bool) -> None:
    binary = binary or not all(_json_ok(a) for a in arrays)
    inputs = [input_from_numpy(f"in{i}", a) for i, a in enumerate(arrays)]
    body, length = encode_infer_request(InferenceRequest(inputs=inputs, id="q"), binary=binary)
    decoded = decode_infer_request(body, length)
    assert decoded.id == "q"
    for original, got in zip(arrays, decoded.inputs, strict=True):
        _same(got.data, original)


@SETTINGS
@given(
    st.lists(st.tuples(tensors(), st.sampled_from([True, False, None])), max_size=4), st.booleans()
)
def test_response_round_trip_with_mixed_forms(
    outputs: list[tuple[np.ndarray[Any, Any], bool | None]], default: bool
) -> None:
    wanted, expected = [], []
    for i, (array, choice) in enumerate(outputs):
        if not _json_ok(array) and not (choice or (choice is None and default)):
            choice = True
        if choice is not None:
            wanted.append(RequestOutput(f"out{i}", {"binary_data": choice}))
        expected.append(default if choice is None else choice)
    request = InferenceRequest(
        inputs=[], parameters={"binary_data_output": default}, outputs=wanted
    )
    response = InferenceResponse(
        model_name="m",
        outputs=[output_from_numpy(f"out{i}", a) for i, (a, _) in enumerate(outputs)],
    )
    body, length = encode_infer_response(response, request)
    assert (length is None) == (not any(expected))
    decoded = decode_infer_response(body, length)
    for (original, _), binary, got in zip(outputs, expected, decoded.outputs, strict=True):
        assert (got.parameters is not UNSET) == binary
        _same(got.data, original)


def _must_only_raise_protocol_error(body: bytes, length: int | None) -> None:
    for decode in (decode_infer_request, decode_infer_response):
        # A decode may succeed or raise ProtocolError; any other exception fails the test.
        with contextlib.suppress(ProtocolError):
            decode(body, length)


@SETTINGS
@given(st.binary(max_size=200), st.one_of(st.none(), st.integers(-3, 210)))
def test_random_bytes_raise_only_protocol_error(body: bytes, length: int | None) -> None:
    _must_only_raise_protocol_error(body, length)


def _containers(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=3), inner, max_size=3)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=5),
    _containers,
    max_leaves=12,
)


@st.composite
def forged_tensor(draw: st.DrawFn) -> dict[str, Any]:
    tensor: dict[str, Any] = {
        "name": draw(st.text(max_size=3) | json_values),
        "shape": draw(st.lists(st.integers(-2, 2**33), max_size=3) | json_values),
        "datatype": draw(st.sampled_from([*DATATYPES, "FP8", ""]) | json_values),
    }
    if draw(st.booleans()):
        tensor["data"] = draw(
            json_values | st.lists(st.integers(-300, 300) | st.floats(), max_size=7)
        )
    if draw(st.booleans()):
        tensor["parameters"] = {"binary_data_size": draw(st.integers(-2, 40) | json_values)}
    return tensor


@SETTINGS
@given(st.lists(forged_tensor(), max_size=3), st.binary(max_size=40), st.booleans())
def test_forged_json_raises_only_protocol_error(
    tensors_: list[dict[str, Any]], tail: bytes, with_header: bool
) -> None:
    head = json.dumps({"model_name": "m", "inputs": tensors_, "outputs": tensors_}).encode()
    _must_only_raise_protocol_error(head + tail, len(head) if with_header else None)


@SETTINGS
@given(
    st.lists(tensors(), min_size=1, max_size=3),
    st.booleans(),
    st.lists(
        st.tuples(st.integers(0, 10_000), st.binary(max_size=3), st.integers(0, 3)), max_size=4
    ),
    st.integers(-3, 3),
)
def test_mutated_bodies_raise_only_protocol_error(
    arrays: list[np.ndarray[Any, Any]],
    binary: bool,
    edits: list[tuple[int, bytes, int]],
    shift: int,
) -> None:
    request = InferenceRequest(inputs=[input_from_numpy(f"i{n}", a) for n, a in enumerate(arrays)])
    try:
        body, length = encode_infer_request(request, binary=binary)
    except ProtocolError:  # JSON cannot carry this tensor; the binary form can
        body, length = encode_infer_request(request, binary=True)
    mutated = bytearray(body)
    for position, insert, delete in edits:
        at = position % (len(mutated) + 1)
        mutated[at : at + delete] = insert
    _must_only_raise_protocol_error(bytes(mutated), None if length is None else length + shift)
