"""The ``pd`` content type: exact DataFrame round trips over every wire, both directions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from codec_wire import WIRES, request_over, response_over

from kernel.codecs import (
    CodecError,
    decode_request,
    decode_response,
    encode_request,
    encode_response,
)
from protocol import rest


def mixed_frame() -> pd.DataFrame:
    """Every column kind the issue names, with missing values in each that can have them."""
    return pd.DataFrame(
        {
            "i": np.array([1, -2, 3, 2**40], dtype=np.int64),
            "u8": np.array([0, 255, 3, 4], dtype=np.uint8),
            "f": [1.5, np.nan, 3.0, -4.25],
            "f32": np.array([1, 2, np.nan, 4], dtype=np.float32),
            "b": [True, False, True, True],
            "s": ["a", None, "ç ☃", ""],
            "ss": pd.array(["x", pd.NA, "", "z"], dtype="string"),
            "n": pd.array([1, None, 3, 4], dtype="Int64"),
            "nf": pd.array([1.5, None, 3, 4], dtype="Float64"),
            "nb": pd.array([True, None, False, True], dtype="boolean"),
            "t": pd.to_datetime(
                ["2024-01-01T00:00:00.123456789", None, "2024-03-01", "1969-12-31T23:59:59"],
                format="ISO8601",
            ),
            "tz": pd.to_datetime(
                ["2024-01-01", "2024-07-01 12:30", None, "2024-10-27 02:30"], format="ISO8601"
            ).tz_localize("Europe/Paris", ambiguous=[True, False, False, True]),
            "ts": pd.to_datetime(["2024-01-01", "2024-07-01", None, "2024-04-01"]).astype(
                "datetime64[s]"
            ),
            "c": pd.Categorical(
                ["lo", "hi", None, "lo"], categories=["lo", "hi", "mid"], ordered=True
            ),
            "ci": pd.Categorical([1, 2, 1, None]),
            "by": [b"\x00\xff", b"x", None, b""],
        }
    )


@pytest.mark.parametrize("wire", WIRES)
def test_frame_round_trips_as_a_request(wire: str) -> None:
    frame = mixed_frame()
    received = request_over(wire, encode_request(frame))
    pd.testing.assert_frame_equal(decode_request(received), frame)


@pytest.mark.parametrize("wire", WIRES)
def test_frame_round_trips_as_a_response(wire: str) -> None:
    frame = mixed_frame()
    received = response_over(wire, encode_response(frame, model_name="m"))
    pd.testing.assert_frame_equal(decode_response(received), frame)


def test_json_outputs_carry_no_parameters_and_the_response_records_the_schema() -> None:
    body, header = rest.encode_infer_response(encode_response(mixed_frame(), model_name="m"))
    assert header is None
    document = rest.decode_json(body, dict)
    assert all("parameters" not in out for out in document["outputs"])
    assert document["parameters"]["content_type"] == "pd"
    assert "content_schema" in document["parameters"]


def test_columns_are_plain_tensors_other_clients_can_read() -> None:
    request = encode_request(mixed_frame())
    by_name = {i.name: i for i in request.inputs}
    assert by_name["i"].datatype == "INT64"
    assert by_name["i"].shape == [4]
    assert by_name["s"].datatype == "BYTES"
    assert by_name["s"].parameters == {"content_type": "str"}
    assert by_name["t"].data.tolist()[0] == b"2024-01-01T00:00:00.123456789"
    assert by_name["c"].data.tolist() == [b"lo", b"hi", b"", b"lo"]
    assert by_name["f"].data.tolist() == [1.5, 0.0, 3.0, -4.25]  # NaN sent as 0 + na list


def test_a_frame_from_a_client_without_a_schema_uses_datatypes_and_content_types() -> None:
    body = (
        b'{"parameters": {"content_type": "pd"}, "inputs": ['
        b'{"name": "a", "shape": [2, 1], "datatype": "FP32", "data": [1, 2]},'
        b'{"name": "s", "shape": [2], "datatype": "BYTES", "data": ["x", "y"],'
        b' "parameters": {"content_type": "str"}},'
        b'{"name": "d", "shape": [2], "datatype": "BYTES", "data": ["2024-01-01T10:00:00",'
        b' "2024-01-02"], "parameters": {"content_type": "datetime"}},'
        b'{"name": "u", "shape": [2], "datatype": "BYTES", "data": ["p", "q"]}]}'
    )
    frame = decode_request(rest.decode_infer_request(body))
    expected = pd.DataFrame(
        {
            "a": np.array([1, 2], dtype=np.float32),
            "s": ["x", "y"],
            "d": pd.to_datetime(["2024-01-01T10:00:00", "2024-01-02"], format="ISO8601"),
            "u": ["p", "q"],  # undeclared UTF-8 text is str, never bytes
        }
    )
    pd.testing.assert_frame_equal(frame, expected)


def test_columns_of_different_lengths_are_a_400_naming_them() -> None:
    body = (
        b'{"parameters": {"content_type": "pd"}, "inputs": ['
        b'{"name": "a", "shape": [2], "datatype": "INT32", "data": [1, 2]},'
        b'{"name": "b", "shape": [3], "datatype": "INT32", "data": [1, 2, 3]}]}'
    )
    with pytest.raises(CodecError, match="column 'b' has 3 rows, 'a' has 2"):
        decode_request(rest.decode_infer_request(body))


def test_a_matrix_is_not_a_column() -> None:
    body = (
        b'{"parameters": {"content_type": "pd"}, "inputs": ['
        b'{"name": "a", "shape": [2, 2], "datatype": "INT32", "data": [1, 2, 3, 4]}]}'
    )
    with pytest.raises(CodecError, match=r"column 'a': shape \[2, 2\] is not a column"):
        decode_request(rest.decode_infer_request(body))


def test_unsupported_column_dtypes_are_named() -> None:
    frame = pd.DataFrame({"gap": pd.to_timedelta([1, 2], unit="s")})
    with pytest.raises(CodecError, match="column 'gap': dtype timedelta64"):
        encode_request(frame)
    mixed = pd.DataFrame({"m": ["a", 1]})
    with pytest.raises(CodecError, match="column 'm': object values must all be str or all bytes"):
        encode_request(mixed)


def test_a_bad_schema_is_a_400() -> None:
    request = encode_request(pd.DataFrame({"a": [1, 2]}))
    broken = request.parameters | {"content_schema": "{not json"}  # type: ignore[operator]
    import msgspec

    with pytest.raises(CodecError, match="content_schema is not a JSON string"):
        decode_request(msgspec.structs.replace(request, parameters=broken))
    wrong_na = request.parameters | {"content_schema": '{"a": {"na": [7]}}'}  # type: ignore[operator]
    with pytest.raises(CodecError, match="'na' must list row positions below 2"):
        decode_request(msgspec.structs.replace(request, parameters=wrong_na))


def test_negative_na_positions_and_duplicate_columns_are_refused() -> None:
    import msgspec

    request = encode_request(pd.DataFrame({"a": [1, 2]}))
    params = request.parameters | {"content_schema": '{"a": {"na": [-1]}}'}  # type: ignore[operator]
    with pytest.raises(CodecError, match="'na' must list row positions below 2"):
        decode_request(msgspec.structs.replace(request, parameters=params))
    twice = pd.DataFrame([[1, 2]], columns=["a", "a"])
    with pytest.raises(CodecError, match="two columns are named 'a'"):
        encode_request(twice)


def test_empty_frame_round_trips() -> None:
    frame = pd.DataFrame({"a": np.array([], dtype=np.int64), "s": pd.Series([], dtype=object)})
    got = decode_request(request_over("binary", encode_request(frame)))
    pd.testing.assert_frame_equal(got, frame)
