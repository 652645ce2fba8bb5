"""``output_from_numpy`` on the response path: it runs once per output of every request; each
output must get its own array's datatype, however many dtypes go through it and in whatever
order, and a plain ndarray is carried without a copy."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from protocol.errors import ProtocolError
from protocol.tensors import output_from_numpy

CASES: list[tuple[np.ndarray[Any, Any], str]] = [
    (np.zeros((2, 3)), "FP64"),
    (np.zeros(2, ">f8"), "FP64"),
    (np.zeros(2, np.float32), "FP32"),
    (np.zeros(2, ">f4"), "FP32"),
    (np.arange(3), "INT64"),
    (np.arange(3, dtype=np.uint8), "UINT8"),
    (np.array([True, False]), "BOOL"),
    (np.array(["a", "bc"]), "BYTES"),
    (np.array([b"a"]), "BYTES"),
    (np.array([b"a", "b"], dtype=object), "BYTES"),
]


def test_each_output_gets_its_arrays_datatype_call_after_call() -> None:
    for _ in range(3):  # one dtype after another, then over again
        for array, datatype in [*CASES, *reversed(CASES)]:
            out = output_from_numpy("y", array)
            assert (out.datatype, out.shape) == (datatype, list(array.shape)), array.dtype
            assert all(type(d) is int for d in out.shape)


def test_many_dtypes_one_after_another() -> None:
    # Every text width is a dtype of its own.
    for width in range(1, 200):
        text = np.array(["x" * width])
        assert output_from_numpy("y", text).datatype == "BYTES"
    for array, datatype in CASES:
        assert output_from_numpy("y", array).datatype == datatype


def test_dtypes_without_a_datatype_are_refused_every_time() -> None:
    for _ in range(2):
        with pytest.raises(ProtocolError, match="complex128 has no V2 datatype"):
            output_from_numpy("y", np.zeros(2, complex))
        with pytest.raises(ProtocolError, match="has no V2 datatype"):
            output_from_numpy("y", np.zeros(2, "M8[s]"))


def test_an_ndarray_is_carried_as_it_is() -> None:
    array = np.arange(6.0).reshape(2, 3)[:, ::2]  # a strided view: not copied either
    out = output_from_numpy("y", array, {"content_type": "np"})
    assert out.data is array
    assert (out.name, out.shape, out.parameters) == ("y", [2, 2], {"content_type": "np"})


def test_subclasses_lists_and_scalars_become_plain_arrays() -> None:
    masked = np.ma.masked_array([1.0, 2.0], mask=[False, True])
    out = output_from_numpy("y", masked)
    assert type(out.data) is np.ndarray
    assert (out.datatype, out.data.tolist()) == ("FP64", [1.0, 2.0])
    listed = output_from_numpy("y", [[1, 2], [3, 4]])
    assert type(listed.data) is np.ndarray
    assert (listed.datatype, listed.shape) == ("INT64", [2, 2])
    scalar = output_from_numpy("y", np.float32(1.5))
    assert (scalar.datatype, scalar.shape, scalar.data.ndim) == ("FP32", [], 0)
