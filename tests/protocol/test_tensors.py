"""protocol.tensors: arrays to and from JSON values and binary blobs, with validation."""

from __future__ import annotations

import subprocess
import sys
from typing import Any, cast

import msgspec
import numpy as np
import pytest

from protocol import (
    DATATYPES,
    MAX_ELEMENTS,
    ProtocolError,
    as_tensor_array,
    decode_bytes_elements,
    element_count,
    encode_bytes_elements,
    input_from_numpy,
    output_from_numpy,
    tensor_from_json,
    tensor_from_raw,
    tensor_to_json,
    tensor_to_raw,
)

FIXED = [name for name, row in DATATYPES.items() if row.itemsize]
JSON_TYPES = [name for name, row in DATATYPES.items() if row.json is not None]


def sample(datatype: str, shape: tuple[int, ...]) -> np.ndarray[Any, Any]:
    """A deterministic array of ``datatype`` holding values near both ends of its range."""
    row = DATATYPES[datatype]
    count = int(np.prod(shape, dtype=np.int64))
    if datatype == "BYTES":
        values = [f"é{i}".encode() for i in range(count)]
        flat = np.empty(count, dtype=object)
        flat[:] = values
        out: np.ndarray[Any, Any] = flat.reshape(shape)
        return out
    if datatype == "BOOL":
        return np.asarray(np.arange(count) % 3 == 0).reshape(shape)
    if row.dtype.kind in "iu":
        info = np.iinfo(cast(Any, row.dtype))
        ends = np.array([info.min, info.max, 0, 1], dtype=row.dtype)
        return np.resize(ends, count).reshape(shape)
    return (np.arange(count, dtype=np.float64) * 0.5 - 3).astype(row.dtype).reshape(shape)


# --- shapes ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "count"), [([], 1), ([0], 0), ([2, 3], 6), ([0, MAX_ELEMENTS], 0), ([1] * 32, 1)]
)
def test_element_count(shape: list[int], count: int) -> None:
    assert element_count(shape, "input 'x'") == count


@pytest.mark.parametrize(
    ("shape", "fragment"),
    [
        ([2, -1], "input 'x': shape [2,-1] has a negative dimension"),
        ([2**40, 2**40], "shape [1099511627776,1099511627776] has a dimension above"),
        ([2**20, 2**20, 2**20], "holds 1152921504606846976 elements, at most 4294967296"),
        ([0, 2**63], "has a dimension above"),
        ([0, 2**20, 2**20], "nonzero dimensions multiply to 1099511627776, at most"),
        ([0] + [2**20] * 11, "is too large"),
        ([1] * 33, "33 dimensions, at most 32"),
    ],
)
def test_element_count_rejects(shape: list[int], fragment: str) -> None:
    with pytest.raises(ProtocolError) as info:
        element_count(shape, "input 'x'")
    assert fragment in str(info.value)


# --- binary blobs ------------------------------------------------------------------------------


@pytest.mark.parametrize("datatype", FIXED)
@pytest.mark.parametrize("shape", [(), (0,), (5,), (2, 3), (2, 0, 4)])
def test_raw_round_trip_is_zero_copy(datatype: str, shape: tuple[int, ...]) -> None:
    array = sample(datatype, shape)
    blob = bytes(tensor_to_raw(array, DATATYPES[datatype], "t"))
    assert len(blob) == array.size * DATATYPES[datatype].itemsize
    decoded = tensor_from_raw(list(shape), datatype, blob, "t")
    assert decoded.shape == shape
    assert decoded.dtype == DATATYPES[datatype].dtype
    np.testing.assert_array_equal(decoded, array)
    if array.size:
        assert np.shares_memory(decoded, np.frombuffer(blob, np.uint8))
    assert not decoded.flags.writeable


def test_raw_is_little_endian_and_row_major() -> None:
    big = np.arange(6, dtype=">i4").reshape(2, 3)
    blob = bytes(tensor_to_raw(big.T, DATATYPES["INT32"], "t"))
    assert blob == np.ascontiguousarray(big.T).astype("<i4").tobytes()
    assert tensor_from_raw([3, 2], "INT32", blob, "t").tolist() == big.T.tolist()


def test_raw_from_a_writable_buffer_is_writable() -> None:
    body = bytearray(np.arange(4, dtype="<f4").tobytes())
    decoded = tensor_from_raw([4], "FP32", body, "t")
    decoded[0] = 9.0
    assert body[:4] == np.float32(9.0).tobytes()


@pytest.mark.parametrize(
    ("shape", "datatype", "blob", "fragment"),
    [
        ([2, 3], "FP32", b"\0" * 20, "input 'x': shape [2,3] of FP32 needs 24 bytes, got 20"),
        ([1], "FP32", b"\0" * 5, "needs 4 bytes, got 5"),
        ([2], "BOOL", b"\x01\x02", "BOOL data must be bytes 0 or 1"),
        ([1], "FP8", b"\0", "unknown datatype 'FP8'"),
        ([3], "BYTES", b"\0" * 8, "3 BYTES elements need at least 12 bytes"),
        ([1], "BYTES", b"\x05\0\0\0abc", "element 0 has length 5, which runs past the end"),
        ([1], "BYTES", b"\x01\0\0\0abc", "2 bytes left over after 1 elements"),
        ([2], "BYTES", b"\x01\0\0\0a\0\0\0", "element 1's length prefix runs past the end"),
    ],
)
def test_raw_rejects(shape: list[int], datatype: str, blob: bytes, fragment: str) -> None:
    with pytest.raises(ProtocolError) as info:
        tensor_from_raw(shape, datatype, blob, "input 'x'")
    assert fragment in str(info.value)
    assert str(info.value).startswith("input 'x'")


def test_bytes_elements_round_trip() -> None:
    values = [b"", b"a\0", "é".encode(), b"\xff\xfe", b"x" * 300]
    blob = encode_bytes_elements(np.array(values, dtype=object))
    assert blob[:4] == b"\0\0\0\0"
    assert blob[4:8] == (2).to_bytes(4, "little")
    assert decode_bytes_elements(blob, len(values), "t").tolist() == values


def test_bytes_elements_accepts_text_and_lists() -> None:
    mixed: list[bytes | str] = ["hé", b"a\0"]
    assert encode_bytes_elements(mixed) == b"\x03\0\0\0h\xc3\xa9\x02\0\0\0a\0"
    assert encode_bytes_elements(np.array([["ab"], ["c"]])) == b"\x02\0\0\0ab\x01\0\0\0c"


def test_bytes_elements_rejects_other_objects() -> None:
    with pytest.raises(ProtocolError, match="output 'y': BYTES element 1 is int"):
        encode_bytes_elements(np.array([b"a", 3], dtype=object), "output 'y'")


# --- JSON values -------------------------------------------------------------------------------


def _json(values: Any) -> Any:
    """``values`` as a request decoder hands them over: after a trip through JSON."""
    return msgspec.json.decode(msgspec.json.encode(values))


@pytest.mark.parametrize("datatype", JSON_TYPES)
@pytest.mark.parametrize("shape", [(), (0,), (4,), (2, 3), (2, 1, 2)])
def test_json_round_trip_flat_and_nested(datatype: str, shape: tuple[int, ...]) -> None:
    array = sample(datatype, shape)
    flat = tensor_to_json(array, DATATYPES[datatype], "t")
    assert all(not isinstance(v, list) for v in flat)
    nested = array.tolist() if shape else flat
    if datatype == "BYTES" and shape:
        nested = np.vectorize(lambda b: b.decode(), otypes=[object])(array).tolist()
    for data in (flat, nested):
        decoded = tensor_from_json(_json(data), list(shape), datatype, "t")
        assert decoded.shape == shape
        assert decoded.dtype == DATATYPES[datatype].dtype
        np.testing.assert_array_equal(decoded, array)


def test_json_float_limits_accept_short_float32_spellings() -> None:
    decoded = tensor_from_json([3.4028235e38, -65504], [2], "FP32", "t")
    assert decoded[0] == np.finfo(np.float32).max
    assert tensor_from_json([65519.9], [1], "FP16", "t")[0] == 65504


@pytest.mark.parametrize(
    ("datatype", "data", "fragment"),
    [
        ("FP32", b'[1, "2"]', "FP32 data must be JSON numbers: Expected `float`, got `str`"),
        ("INT32", b"[1, 2.5]", "INT32 data must be JSON integers: Expected `int`, got `float`"),
        ("INT64", b"[true]", "Expected `int`, got `bool` - at `data[0]`"),
        ("BOOL", b"[1]", "BOOL data must be JSON booleans: Expected `bool`, got `int`"),
        ("INT8", b"[128]", "INT8 data holds 128, outside [-128, 127]"),
        ("UINT8", b"[-1]", "UINT8 data holds -1, outside [0, 255]"),
        ("UINT64", b"[18446744073709551616]", "UINT64 data holds 18446744073709551616, outside"),
        ("INT64", b"[-9223372036854775809]", "INT64 data holds -9223372036854775809, outside"),
        ("INT8", b"[-129]", "INT8 data holds -129, outside [-128, 127]"),
        ("UINT32", b"[[4294967296]]", "UINT32 data holds 4294967296, outside [0, 4294967295]"),
        ("FP16", b"[70000]", "FP16 data holds 70000.0, outside ±65504.0"),
        ("FP32", b"[[1e39]]", "FP32 data holds 1e+39, outside ±3.40282"),
        ("BYTES", b"[1]", "BYTES data must be JSON strings: Expected `str`, got `int`"),
        ("BF16", b"[1.0]", "BF16 cannot be sent as JSON data"),
        ("FP32", b"1.0", "data must be a JSON array"),
        ("FP32", b"[[1, 2], [3]]", "nested data is ragged"),
        ("BYTES", b'[["a", "b"], ["c"]]', "nested data is ragged"),
        ("FP32", b"[[1, 2], [3, 4], [5, 6]]", "needs 4 elements, got 6"),
        ("FP32", b"[[1, 2], 3]", "Expected `array`, got `int`"),
    ],
)
def test_json_rejects(datatype: str, data: bytes, fragment: str) -> None:
    if datatype == "BF16" and "BF16" not in DATATYPES:
        pytest.skip("ml_dtypes is not installed")
    values = msgspec.json.decode(data)
    shape = [2, 2] if data.startswith(b"[[") else [1]
    with pytest.raises(ProtocolError) as info:
        tensor_from_json(values, shape, datatype, "input 'x'")
    assert fragment in str(info.value)
    assert str(info.value).startswith("input 'x': ")


@pytest.mark.parametrize(
    ("array", "datatype", "fragment"),
    [
        (np.array([b"\xff"], dtype=object), "BYTES", "BYTES data is not valid UTF-8"),
        (np.array([3], dtype=object), "BYTES", "BYTES elements must be bytes or str"),
    ],
)
def test_json_output_rejects(array: np.ndarray[Any, Any], datatype: str, fragment: str) -> None:
    with pytest.raises(ProtocolError, match=fragment):
        tensor_to_json(array, DATATYPES[datatype], "output 'y'")


def test_json_output_writes_nan_and_infinity_as_null() -> None:
    # JSON has neither: null, as MLServer writes them (binary data keeps them exact).
    array = np.array([1.5, np.nan, np.inf, -np.inf], np.float32)
    assert tensor_to_json(array, DATATYPES["FP32"], "output 'y'") == [1.5, None, None, None]
    big = np.array([1e308, 1e308])  # their sum overflows; the values do not
    assert tensor_to_json(big, DATATYPES["FP64"], "output 'y'") == [1e308, 1e308]


def test_bf16_json_output_is_refused() -> None:
    if "BF16" not in DATATYPES:
        pytest.skip("ml_dtypes is not installed")
    row = DATATYPES["BF16"]
    with pytest.raises(ProtocolError, match="output 'y': BF16 cannot be sent as JSON"):
        tensor_to_json(np.zeros(2, row.dtype), row, "output 'y'")


# --- building messages from numpy -------------------------------------------------------------


@pytest.mark.parametrize(
    ("array", "datatype"),
    [
        (np.zeros((2, 3), np.float32), "FP32"),
        (np.zeros(2, ">f8"), "FP64"),
        (np.array([True]), "BOOL"),
        (np.array(["a", "bc"]), "BYTES"),
        (np.array([b"a"]), "BYTES"),
        (np.uint16(7), "UINT16"),
    ],
)
def test_from_numpy_infers_datatype(array: Any, datatype: str) -> None:
    out = output_from_numpy("y", array, {"content_type": "np"})
    assert (out.datatype, out.shape, out.parameters) == (
        datatype,
        list(np.shape(array)),
        {"content_type": "np"},
    )
    inp = input_from_numpy("x", array)
    assert (inp.datatype, inp.shape) == (datatype, list(np.shape(array)))
    assert inp.data is not None


def test_from_numpy_rejects_dtypes_without_datatype() -> None:
    with pytest.raises(ProtocolError, match="complex128 has no V2 datatype"):
        output_from_numpy("y", np.zeros(2, complex))


def test_as_tensor_array_casts_within_kind_only() -> None:
    row = DATATYPES["FP32"]
    assert as_tensor_array([1.5, 2.0], row, [2], "o").dtype == np.float32
    assert as_tensor_array(np.arange(2), row, [2], "o").dtype == np.float32
    with pytest.raises(ProtocolError, match="output 'y': data cannot be INT32"):
        as_tensor_array(np.array([1.5]), DATATYPES["INT32"], [1], "output 'y'")
    with pytest.raises(ProtocolError, match=r"output 'y': shape \[3\] needs 3 elements, got 2"):
        as_tensor_array(np.zeros(2), row, [3], "output 'y'")
    with pytest.raises(ProtocolError, match="BYTES data is numpy float64"):
        as_tensor_array(np.zeros(2), DATATYPES["BYTES"], [2], "output 'y'")


def test_codecs_work_without_ml_dtypes() -> None:
    # ml_dtypes is optional at runtime: without it BF16 is simply an unknown datatype.
    script = (
        "import sys; sys.modules['ml_dtypes'] = None\n"
        "import numpy as np\n"
        "from protocol import ProtocolError, rest\n"
        'body = b\'{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1]}]}\'\n'
        "assert rest.decode_infer_request(body).inputs[0].data.tolist() == [1.0]\n"
        "try:\n"
        "    rest.decode_infer_request(body.replace(b'FP32', b'BF16'))\n"
        "except ProtocolError as exc:\n"
        "    print(exc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert "input 'x': unknown datatype 'BF16'" in done.stdout
