"""Categorical and text features through pandas-shaped requests: one named input per column,
BYTES for the categorical ones, matched to the model's feature names."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from catboost_support import LoadRuntime, Trained, request, tensor

from kernel import BadRequest
from protocol.messages import RequestInput

pytestmark = pytest.mark.anyio


def columns(frame: pd.DataFrame, order: list[str] | None = None) -> list[RequestInput]:
    return [tensor(str(c), frame[c].to_numpy()) for c in (order or list(frame.columns))]


def proba(trained: Trained, frame: pd.DataFrame) -> np.ndarray[Any, Any]:
    return np.asarray(trained.model.predict_proba(frame))


async def test_inputs_are_matched_by_name_in_any_order(
    load_runtime: LoadRuntime, categorical: Trained
) -> None:
    runtime = await load_runtime(categorical)
    rows = categorical.rows
    shuffled = columns(rows, ["plan", "income", "city", "age"])
    response = await runtime.predict(request(shuffled, ["predict_proba"]))
    np.testing.assert_allclose(response.outputs[0].data, proba(categorical, rows))


async def test_unnamed_columns_are_taken_in_request_order(
    load_runtime: LoadRuntime, categorical: Trained
) -> None:
    runtime = await load_runtime(categorical)
    rows = categorical.rows
    inputs = [tensor(f"c{i}", rows[c].to_numpy()) for i, c in enumerate(rows.columns)]
    response = await runtime.predict(request(inputs, ["predict_proba"]))
    np.testing.assert_allclose(response.outputs[0].data, proba(categorical, rows))


async def test_columns_of_shape_rows_by_one(
    load_runtime: LoadRuntime, categorical: Trained
) -> None:
    runtime = await load_runtime(categorical)
    rows = categorical.rows
    inputs = [tensor(str(c), rows[c].to_numpy().reshape(-1, 1)) for c in rows.columns]
    response = await runtime.predict(request(inputs, ["predict_proba"]))
    np.testing.assert_allclose(response.outputs[0].data, proba(categorical, rows))


async def test_one_bytes_matrix_with_numbers_as_text(
    load_runtime: LoadRuntime, categorical: Trained
) -> None:
    runtime = await load_runtime(categorical)
    rows = categorical.rows
    matrix = np.array([[repr(v) if isinstance(v, float) else v for v in r] for r in rows.values])
    response = await runtime.predict(request([tensor("input-0", matrix)], ["predict_proba"]))
    np.testing.assert_allclose(response.outputs[0].data, proba(categorical, rows), rtol=1e-6)


async def test_integer_categories_are_their_decimal_text(
    load_runtime: LoadRuntime, numbers: np.ndarray[Any, Any]
) -> None:
    from catboost import CatBoostRegressor, Pool
    from catboost_support import TRAIN

    frame = pd.DataFrame({"x": numbers[:, 0], "store": (numbers[:, 1] > 0).astype(np.int64) + 7})
    target = frame["x"] + (frame["store"] == 8) * 3.0
    model = CatBoostRegressor(cat_features=["store"], **TRAIN).fit(frame, target)
    trained = Trained(model, Pool(frame, target, cat_features=["store"]), frame.iloc[:5])
    runtime = await load_runtime(trained)
    response = await runtime.predict(request(columns(trained.rows), ["predict"]))
    np.testing.assert_allclose(response.outputs[0].data, model.predict(trained.rows))


async def test_missing_and_unknown_columns_are_named(
    load_runtime: LoadRuntime, categorical: Trained
) -> None:
    runtime = await load_runtime(categorical)
    rows = categorical.rows.rename(columns={"plan": "tier"})
    with pytest.raises(BadRequest) as err:
        await runtime.predict(request(columns(rows), ["predict"]))
    assert "missing feature(s) 'plan'" in str(err.value)
    assert "unknown input(s) 'tier'" in str(err.value)


async def test_unnamed_columns_count_mismatch(
    load_runtime: LoadRuntime, categorical: Trained
) -> None:
    runtime = await load_runtime(categorical)
    rows = categorical.rows
    inputs = [tensor(f"c{i}", rows[c].to_numpy()) for i, c in enumerate(rows.columns[:3])]
    with pytest.raises(BadRequest, match="expects 4 features per row, the request has 3"):
        await runtime.predict(request(inputs, ["predict"]))


async def test_a_word_in_a_numeric_column(load_runtime: LoadRuntime, categorical: Trained) -> None:
    runtime = await load_runtime(categorical)
    rows = categorical.rows.assign(income="lots")
    with pytest.raises(BadRequest, match=r"input 'income'.*numeric feature"):
        await runtime.predict(request(columns(rows), ["predict"]))


async def test_floats_in_a_categorical_column(
    load_runtime: LoadRuntime, categorical: Trained
) -> None:
    runtime = await load_runtime(categorical)
    rows = categorical.rows.assign(city=1.5)
    with pytest.raises(BadRequest, match=r"input 'city'.*takes BYTES or integers, not float64"):
        await runtime.predict(request(columns(rows), ["predict"]))


async def test_different_row_counts(load_runtime: LoadRuntime, categorical: Trained) -> None:
    runtime = await load_runtime(categorical)
    inputs = columns(categorical.rows)
    inputs[0] = tensor("age", categorical.rows["age"].to_numpy()[:3])
    with pytest.raises(BadRequest, match="different row counts"):
        await runtime.predict(request(inputs, ["predict"]))


async def test_invalid_utf8(load_runtime: LoadRuntime, categorical: Trained) -> None:
    runtime = await load_runtime(categorical)
    inputs = columns(categorical.rows)
    inputs[1].data = np.array([b"\xff\xfe"] * len(categorical.rows), dtype=object)
    with pytest.raises(BadRequest, match=r"input 'city'.*not UTF-8"):
        await runtime.predict(request(inputs, ["predict"]))


async def test_one_named_column_of_a_wider_model(
    load_runtime: LoadRuntime, categorical: Trained
) -> None:
    runtime = await load_runtime(categorical)
    with pytest.raises(BadRequest) as err:
        await runtime.predict(request(columns(categorical.rows, ["age"]), ["predict"]))
    assert str(err.value) == (
        "model 'm' takes one input per feature, named age, city, income, plan:"
        " missing feature(s) 'city', 'income', 'plan'"
    )


async def test_bool_categories_read_as_catboost_reads_a_frame(
    load_runtime: LoadRuntime, numbers: np.ndarray[Any, Any]
) -> None:
    from catboost import CatBoostRegressor, Pool
    from catboost_support import TRAIN

    frame = pd.DataFrame({"x": numbers[:, 0], "member": numbers[:, 1] > 0})
    target = frame["x"] + frame["member"] * 5.0
    model = CatBoostRegressor(cat_features=["member"], **TRAIN).fit(frame, target)
    trained = Trained(model, Pool(frame, target, cat_features=["member"]), frame.iloc[:6])
    runtime = await load_runtime(trained)
    response = await runtime.predict(request(columns(trained.rows), ["predict"]))
    np.testing.assert_allclose(response.outputs[0].data, model.predict(trained.rows))
