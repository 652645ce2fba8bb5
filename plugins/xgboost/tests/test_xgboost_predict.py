"""Every output the runtime gives equals XGBoost's own calls on the same rows: exact for labels
and leaf indices, allclose for floats."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import xgboost as xgb
from xgboost_support import LoadRuntime, request

from kernel import BadRequest
from protocol.messages import ResponseOutput

pytestmark = pytest.mark.anyio

ALL = ["predict", "predict_proba", "predict_raw", "predict_contrib", "predict_leaf"]
REGRESSION = ["predict", "predict_raw", "predict_contrib", "predict_leaf"]


def rows(data: tuple[np.ndarray[Any, Any], Any]) -> np.ndarray[Any, Any]:
    """Twelve rows, missing values included (NaN is missing, as in XGBoost)."""
    x = data[0][:12].copy()
    assert np.isnan(x).any()
    return x


def by_name(outputs: list[ResponseOutput]) -> dict[str, np.ndarray[Any, Any]]:
    return {output.name: np.asarray(output.data) for output in outputs}


def dmatrix(booster: xgb.Booster, x: np.ndarray[Any, Any]) -> xgb.DMatrix:
    return xgb.DMatrix(x, feature_names=booster.feature_names)


async def test_binary_booster(load_runtime: LoadRuntime, binary: xgb.Booster, data: Any) -> None:
    x = rows(data)
    runtime = await load_runtime(binary, file="model.ubj")
    response = await runtime.predict(request(x, outputs=ALL))
    assert [o.name for o in response.outputs] == ALL
    out = by_name(response.outputs)
    d = dmatrix(binary, x)
    probability = binary.predict(d)
    np.testing.assert_array_equal(out["predict"], (probability > 0.5).astype(np.int64))
    assert out["predict"].dtype == np.int64
    np.testing.assert_allclose(out["predict_proba"][:, 1], probability, rtol=1e-6)
    np.testing.assert_allclose(out["predict_proba"].sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(out["predict_raw"], binary.predict(d, output_margin=True))
    np.testing.assert_allclose(out["predict_contrib"], binary.predict(d, pred_contribs=True))
    np.testing.assert_array_equal(out["predict_leaf"], binary.predict(d, pred_leaf=True))
    shapes = {o.name: (o.datatype, o.shape) for o in response.outputs}
    assert shapes == {
        "predict": ("INT64", [12]),
        "predict_proba": ("FP32", [12, 2]),
        "predict_raw": ("FP32", [12]),
        "predict_contrib": ("FP32", [12, 6]),
        "predict_leaf": ("INT32", [12, 8]),
    }


async def test_binary_matches_the_classifier_wrapper(
    load_runtime: LoadRuntime, binary: xgb.Booster, data: Any
) -> None:
    """The booster's answers equal XGBClassifier's on the same model file."""
    x = rows(data)
    runtime = await load_runtime(binary, file="model.json")
    wrapper = xgb.XGBClassifier()
    wrapper.load_model(str(runtime.settings.path + "/model.json"))
    out = by_name((await runtime.predict(request(x, outputs=["predict", "predict_proba"]))).outputs)
    np.testing.assert_array_equal(out["predict"], wrapper.predict(x))
    np.testing.assert_allclose(out["predict_proba"], wrapper.predict_proba(x), rtol=1e-6)


@pytest.mark.parametrize("file", ["model.joblib", "model.json", "model.ubj"])
async def test_multiclass_wrapper(
    load_runtime: LoadRuntime, multiclass: xgb.XGBClassifier, data: Any, file: str
) -> None:
    x = rows(data)
    runtime = await load_runtime(multiclass, file=file)
    out = by_name((await runtime.predict(request(x, outputs=ALL))).outputs)
    np.testing.assert_array_equal(out["predict"], multiclass.predict(x))
    np.testing.assert_allclose(out["predict_proba"], multiclass.predict_proba(x), rtol=1e-6)
    np.testing.assert_allclose(out["predict_raw"], multiclass.predict(x, output_margin=True))
    booster = multiclass.get_booster()
    d = xgb.DMatrix(x)
    contrib = booster.predict(d, pred_contribs=True)
    assert contrib.shape == (12, 3, 6)
    np.testing.assert_allclose(out["predict_contrib"], contrib, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(out["predict_leaf"], multiclass.apply(x))


async def test_softmax_booster(load_runtime: LoadRuntime, softmax: xgb.Booster, data: Any) -> None:
    """multi:softmax's value is the class; probabilities come from the margins, as
    XGBClassifier computes them for this objective."""
    x = rows(data)
    runtime = await load_runtime(softmax, file="model.json")
    out = by_name((await runtime.predict(request(x, outputs=ALL[:3]))).outputs)
    d = xgb.DMatrix(x)
    np.testing.assert_array_equal(out["predict"], softmax.predict(d).astype(np.int64))
    wrapper = xgb.XGBClassifier()
    wrapper.load_model(runtime.settings.path + "/model.json")
    np.testing.assert_array_equal(out["predict"], wrapper.predict(x))
    np.testing.assert_allclose(out["predict_proba"], wrapper.predict_proba(x), rtol=1e-5)
    np.testing.assert_array_equal(out["predict_proba"].argmax(axis=1), out["predict"])
    np.testing.assert_allclose(out["predict_raw"], softmax.predict(d, output_margin=True))


@pytest.mark.parametrize("file", ["model.json", "model.pkl"])
async def test_regressor_uses_the_best_iteration(
    load_runtime: LoadRuntime, regressor: xgb.XGBRegressor, data: Any, file: str
) -> None:
    x = rows(data)
    runtime = await load_runtime(regressor, file=file)
    out = by_name((await runtime.predict(request(x, outputs=REGRESSION))).outputs)
    assert out["predict"].dtype == np.float32
    np.testing.assert_allclose(out["predict"], regressor.predict(x), rtol=1e-6)
    every_tree = regressor.get_booster().predict(xgb.DMatrix(x))
    assert not np.allclose(out["predict"], every_tree)  # the trees past the best are unused
    best = (0, regressor.best_iteration + 1)
    booster = regressor.get_booster()
    d = xgb.DMatrix(x)
    np.testing.assert_allclose(out["predict_raw"], regressor.predict(x, output_margin=True))
    contrib = booster.predict(d, pred_contribs=True, iteration_range=best)
    np.testing.assert_allclose(out["predict_contrib"], contrib, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(out["predict_leaf"], regressor.apply(x))
    with pytest.raises(BadRequest, match=r"cannot produce output 'predict_proba'; it can produce:"):
        await runtime.predict(request(x, outputs=["predict", "predict_proba"]))


async def test_ranker(load_runtime: LoadRuntime, ranker: xgb.XGBRanker, data: Any) -> None:
    x = rows(data)
    runtime = await load_runtime(ranker, file="model.ubj")
    assert runtime.model_info is not None
    assert runtime.model_info.kind == "ranker"
    out = by_name((await runtime.predict(request(x, outputs=REGRESSION))).outputs)
    np.testing.assert_allclose(out["predict"], ranker.predict(x), rtol=1e-6)
    np.testing.assert_allclose(out["predict_raw"], ranker.predict(x, output_margin=True))
    np.testing.assert_array_equal(out["predict_leaf"], ranker.apply(x))
    contrib = ranker.get_booster().predict(xgb.DMatrix(x), pred_contribs=True)
    np.testing.assert_allclose(out["predict_contrib"], contrib, rtol=1e-5, atol=1e-6)


async def test_unavailable_output_names_the_available(
    load_runtime: LoadRuntime, ranker: xgb.XGBRanker, data: Any
) -> None:
    runtime = await load_runtime(ranker)
    with pytest.raises(BadRequest) as info:
        await runtime.predict(request(rows(data), outputs=["predict_proba", "predict"]))
    assert str(info.value) == (
        "model 'm' cannot produce output 'predict_proba'; it can produce:"
        " predict, predict_raw, predict_contrib, predict_leaf"
    )


async def test_default_output_and_predict_fn(
    load_runtime: LoadRuntime, multiclass: xgb.XGBClassifier, data: Any
) -> None:
    x = rows(data)
    runtime = await load_runtime(multiclass, extra={"predict_fn": "predict_proba"})
    (output,) = (await runtime.predict(request(x))).outputs
    assert output.name == "predict_proba"
    np.testing.assert_allclose(output.data, multiclass.predict_proba(x), rtol=1e-6)
    plain = await load_runtime(multiclass)
    response = await plain.predict(request(x))
    assert [o.name for o in response.outputs] == ["predict"]
    assert response.model_version == "2"


async def test_wrong_feature_count_says_both_numbers(
    load_runtime: LoadRuntime, binary: xgb.Booster, data: Any
) -> None:
    runtime = await load_runtime(binary)
    with pytest.raises(BadRequest, match="expects 5 features per row, the request has 4"):
        await runtime.predict(request(rows(data)[:, :4]))
    with pytest.raises(BadRequest, match="expects 5 features per row, the request has 1"):
        await runtime.predict(request(rows(data)[0]))


async def test_nan_is_missing(load_runtime: LoadRuntime, binary: xgb.Booster) -> None:
    runtime = await load_runtime(binary)
    x = np.full((2, 5), np.nan)
    x[1, 0] = 3.0
    out = by_name((await runtime.predict(request(x, outputs=["predict_raw"]))).outputs)
    np.testing.assert_allclose(
        out["predict_raw"], binary.predict(dmatrix(binary, x), output_margin=True)
    )


async def test_missing_setting(load_runtime: LoadRuntime, binary: xgb.Booster) -> None:
    """``extra.missing`` makes another value mean missing, as DMatrix(missing=...) does."""
    x = np.array([[-999.0, 1.0, -999.0, 0.5, 2.0], [0.1, -999.0, 0.2, 0.3, 0.4]])
    runtime = await load_runtime(binary, extra={"missing": -999.0})
    out = by_name((await runtime.predict(request(x, outputs=ALL))).outputs)
    d = xgb.DMatrix(x, missing=-999.0, feature_names=binary.feature_names)
    np.testing.assert_allclose(out["predict_raw"], binary.predict(d, output_margin=True))
    np.testing.assert_allclose(out["predict_contrib"], binary.predict(d, pred_contribs=True))
    np.testing.assert_array_equal(out["predict_leaf"], binary.predict(d, pred_leaf=True))


async def test_input_dtypes(load_runtime: LoadRuntime, binary: xgb.Booster, data: Any) -> None:
    runtime = await load_runtime(binary)
    x = np.nan_to_num(rows(data))
    for typed in (x.astype(np.float32), np.rint(x * 10).astype(np.int32), x > 0):
        out = by_name((await runtime.predict(request(typed, outputs=["predict_raw"]))).outputs)
        expected = binary.predict(dmatrix(binary, typed.astype(np.float32)), output_margin=True)
        np.testing.assert_allclose(out["predict_raw"], expected, rtol=1e-6)
    text = np.array([b"a"] * 5, dtype=object).reshape(1, 5)
    with pytest.raises(BadRequest, match="'input-0' is BYTES: XGBoost models take numeric"):
        await runtime.predict(request(text))


async def test_columns_by_position_or_by_feature_name(
    load_runtime: LoadRuntime, binary: xgb.Booster, data: Any
) -> None:
    x = rows(data)
    runtime = await load_runtime(binary)
    expected = binary.predict(dmatrix(binary, x), output_margin=True)
    columns = [x[:, i] for i in range(5)]
    positional = await runtime.predict(request(*columns, outputs=["predict_raw"]))
    np.testing.assert_allclose(positional.outputs[0].data, expected)
    # Inputs named after the model's features are placed by name, whatever their order.
    names = list(binary.feature_names or [])
    order = [3, 0, 4, 2, 1]
    named = request(
        *[columns[i] for i in order], outputs=["predict_raw"], names=[names[i] for i in order]
    )
    np.testing.assert_allclose((await runtime.predict(named)).outputs[0].data, expected)
    short = request(*columns[:4], names=names[:4])
    with pytest.raises(BadRequest, match="named after its features, but 'score' is missing"):
        await runtime.predict(short)


async def test_bad_layouts(load_runtime: LoadRuntime, binary: xgb.Booster, data: Any) -> None:
    runtime = await load_runtime(binary)
    x = rows(data)
    with pytest.raises(BadRequest, match="different row counts"):
        await runtime.predict(request(x[:, 0], x[:2, 1], x[:, 2], x[:, 3], x[:, 4]))
    with pytest.raises(BadRequest, match=r"shape \[1, 12, 5\]"):
        await runtime.predict(request(x.reshape(1, 12, 5)))
    with pytest.raises(BadRequest, match="no inputs"):
        await runtime.predict(request())


async def test_concurrent_predictions_agree(
    load_runtime: LoadRuntime, multiclass: xgb.XGBClassifier, data: Any
) -> None:
    """The kernel calls predict from several executor threads at once on one booster."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    runtime = await load_runtime(multiclass)
    x = data[0][:50]
    expected = multiclass.predict_proba(x)

    def call(i: int) -> np.ndarray[Any, Any]:
        chunk = x[i % 5 * 10 : i % 5 * 10 + 10]
        outputs = ["predict_proba", "predict_contrib"]
        response = asyncio.run(runtime.predict(request(chunk, outputs=outputs)))
        return np.asarray(response.outputs[0].data)

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(call, range(40)))
    for i, result in enumerate(results):
        np.testing.assert_allclose(result, expected[i % 5 * 10 : i % 5 * 10 + 10], rtol=1e-6)


async def test_categorical_model_takes_category_codes(load_runtime: LoadRuntime) -> None:
    """A model trained with categorical features answers category codes sent as numbers."""
    rng = np.random.default_rng(5)
    x = np.column_stack([rng.normal(size=300), rng.integers(0, 4, 300)]).astype(np.float64)
    y = ((x[:, 0] > 0) ^ (x[:, 1] == 2)).astype(int)
    matrix = xgb.DMatrix(x, label=y, feature_types=["q", "c"], enable_categorical=True)
    booster = xgb.train({"objective": "binary:logistic", "tree_method": "hist"}, matrix, 5)
    runtime = await load_runtime(booster, file="model.json")
    rows = x[:20]
    out = by_name((await runtime.predict(request(rows, outputs=ALL))).outputs)
    d = xgb.DMatrix(rows, feature_types=["q", "c"], enable_categorical=True)
    np.testing.assert_allclose(out["predict_proba"][:, 1], booster.predict(d), rtol=1e-6)
    np.testing.assert_allclose(out["predict_contrib"], booster.predict(d, pred_contribs=True))
    np.testing.assert_array_equal(out["predict_leaf"], booster.predict(d, pred_leaf=True))
