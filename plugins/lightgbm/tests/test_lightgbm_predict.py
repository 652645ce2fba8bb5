"""Every output the runtime gives equals LightGBM's own call on the same rows: exact for labels
and leaf indices, allclose for floats."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import lightgbm as lgb
import numpy as np
import pytest
from lightgbm_support import ROWS, LoadRuntime, by_name, request, tensor

from kernel import BadRequest
from protocol.messages import InferenceRequest

pytestmark = pytest.mark.anyio

ALL = ["predict", "predict_proba", "predict_raw", "predict_contrib", "predict_leaf"]
NO_PROBA = ["predict", "predict_raw", "predict_contrib", "predict_leaf"]


def assert_common(out: dict[str, np.ndarray[Any, Any]], booster: lgb.Booster) -> None:
    """``predict_raw``, ``predict_contrib`` and ``predict_leaf`` against the booster."""
    np.testing.assert_allclose(out["predict_raw"], booster.predict(ROWS, raw_score=True))
    np.testing.assert_allclose(out["predict_contrib"], booster.predict(ROWS, pred_contrib=True))
    leaves = np.asarray(booster.predict(ROWS, pred_leaf=True))
    assert out["predict_leaf"].dtype == leaves.dtype == np.int32
    np.testing.assert_array_equal(out["predict_leaf"], leaves)


@pytest.mark.parametrize("file", ["model.txt", "model.joblib"])
async def test_binary(load_runtime: LoadRuntime, binary: lgb.Booster, file: str) -> None:
    runtime = await load_runtime(binary, file=file)
    response = await runtime.predict(request(ROWS, outputs=ALL))
    assert [o.name for o in response.outputs] == ALL
    out = by_name(response.outputs)
    p = np.asarray(binary.predict(ROWS))
    assert out["predict"].dtype == np.int64
    np.testing.assert_array_equal(out["predict"], (p > 0.5).astype(np.int64))
    # Both classes on show, so a constant answer cannot pass.
    assert set(out["predict"].tolist()) == {0, 1}
    np.testing.assert_allclose(out["predict_proba"], np.column_stack((1 - p, p)))
    assert_common(out, binary)
    assert [o.shape for o in response.outputs] == [[7], [7, 2], [7], [7, 6], [7, 12]]


async def test_multiclass(load_runtime: LoadRuntime, multiclass: lgb.Booster) -> None:
    runtime = await load_runtime(multiclass, file="model.bst")
    out = by_name((await runtime.predict(request(ROWS, outputs=ALL))).outputs)
    proba = multiclass.predict(ROWS)
    np.testing.assert_array_equal(out["predict"], np.argmax(proba, axis=1))
    assert len(set(out["predict"].tolist())) > 1
    np.testing.assert_allclose(out["predict_proba"], proba)
    assert out["predict_proba"].shape == (7, 3)
    assert_common(out, multiclass)
    # LightGBM's own layout: one block of features + bias per class; one tree per class a round.
    assert out["predict_contrib"].shape == (7, 18)
    assert out["predict_leaf"].shape == (7, 36)


async def test_regression(load_runtime: LoadRuntime, regression: lgb.Booster) -> None:
    runtime = await load_runtime(regression, file="model.model")
    response = await runtime.predict(request(ROWS, outputs=NO_PROBA))
    out = by_name(response.outputs)
    assert out["predict"].dtype == np.float64
    np.testing.assert_allclose(out["predict"], regression.predict(ROWS))
    assert_common(out, regression)
    with pytest.raises(BadRequest, match=r"'predict_proba'; it can produce: predict, predict_raw"):
        await runtime.predict(request(ROWS, outputs=["predict_proba"]))


async def test_poisson_raw_is_the_log_of_predict(
    load_runtime: LoadRuntime, poisson: lgb.Booster
) -> None:
    runtime = await load_runtime(poisson)
    out = by_name((await runtime.predict(request(ROWS, outputs=NO_PROBA))).outputs)
    np.testing.assert_allclose(out["predict"], poisson.predict(ROWS))
    np.testing.assert_allclose(np.exp(out["predict_raw"]), out["predict"])
    assert_common(out, poisson)


async def test_lambdarank(load_runtime: LoadRuntime, ranker: lgb.Booster) -> None:
    runtime = await load_runtime(ranker)
    out = by_name((await runtime.predict(request(ROWS, outputs=NO_PROBA))).outputs)
    np.testing.assert_allclose(out["predict"], ranker.predict(ROWS))
    assert_common(out, ranker)
    assert runtime.model is not None
    assert runtime.model.kind == "ranker"


@pytest.mark.parametrize("file", ["model.joblib", "model.pkl"])
async def test_wrapper_classifier_string_labels(
    load_runtime: LoadRuntime, classifier: lgb.LGBMClassifier, file: str
) -> None:
    runtime = await load_runtime(classifier, file=file)
    response = await runtime.predict(request(ROWS, outputs=ALL))
    out = by_name(response.outputs)
    assert response.outputs[0].datatype == "BYTES"
    expected = [label.encode() for label in classifier.predict(ROWS)]
    assert list(out["predict"]) == expected
    assert len(set(expected)) > 1
    np.testing.assert_allclose(out["predict_proba"], classifier.predict_proba(ROWS))
    np.testing.assert_allclose(out["predict_raw"], classifier.predict(ROWS, raw_score=True))
    np.testing.assert_allclose(out["predict_contrib"], classifier.predict(ROWS, pred_contrib=True))
    np.testing.assert_array_equal(out["predict_leaf"], classifier.predict(ROWS, pred_leaf=True))


async def test_wrapper_binary_classes(
    load_runtime: LoadRuntime, binary_classifier: lgb.LGBMClassifier
) -> None:
    runtime = await load_runtime(binary_classifier, file="model.joblib")
    out = by_name(
        (await runtime.predict(request(ROWS, outputs=["predict", "predict_proba"]))).outputs
    )
    np.testing.assert_array_equal(out["predict"], binary_classifier.predict(ROWS))
    assert set(out["predict"].tolist()) == {3, 7}
    np.testing.assert_allclose(out["predict_proba"], binary_classifier.predict_proba(ROWS))


async def test_a_wrapper_saved_as_text_gives_class_indices(
    load_runtime: LoadRuntime, binary_classifier: lgb.LGBMClassifier
) -> None:
    # The text format keeps the booster only: labels are the class indices 0 and 1.
    runtime = await load_runtime(binary_classifier, file="model.txt")
    (output,) = (await runtime.predict(request(ROWS))).outputs
    indices = np.searchsorted(binary_classifier.classes_, binary_classifier.predict(ROWS))
    np.testing.assert_array_equal(output.data, indices)


@pytest.fixture
def request_fixture(request: pytest.FixtureRequest) -> pytest.FixtureRequest:
    """pytest's ``request`` (that name is this module's request builder)."""
    return request


@pytest.mark.parametrize("fixture", ["regressor", "sk_ranker"])
async def test_wrapper_regressor_and_ranker(
    load_runtime: LoadRuntime, request_fixture: Any, fixture: str
) -> None:
    model = request_fixture.getfixturevalue(fixture)
    runtime = await load_runtime(model, file="model.joblib")
    out = by_name((await runtime.predict(request(ROWS, outputs=NO_PROBA))).outputs)
    np.testing.assert_allclose(out["predict"], model.predict(ROWS))
    assert_common(out, model.booster_)


async def test_no_outputs_named_gives_the_default(
    load_runtime: LoadRuntime, binary: lgb.Booster
) -> None:
    runtime = await load_runtime(binary)
    req = request(ROWS)
    req.id = "abc"
    response = await runtime.predict(req)
    assert [o.name for o in response.outputs] == ["predict"]
    assert (response.model_name, response.model_version, response.id) == ("m", "2", "abc")
    runtime = await load_runtime(binary, extra={"predict_fn": "predict_proba"})
    (output,) = (await runtime.predict(request(ROWS))).outputs
    assert output.name == "predict_proba"
    np.testing.assert_allclose(output.data[:, 1], binary.predict(ROWS))


async def test_an_output_asked_twice_is_answered_twice(
    load_runtime: LoadRuntime, multiclass: lgb.Booster
) -> None:
    runtime = await load_runtime(multiclass)
    names = ["predict_proba", "predict", "predict_proba"]
    response = await runtime.predict(request(ROWS, outputs=names))
    assert [o.name for o in response.outputs] == names
    np.testing.assert_allclose(response.outputs[2].data, multiclass.predict(ROWS))


async def test_unknown_output_names_those_available(
    load_runtime: LoadRuntime, binary: lgb.Booster
) -> None:
    runtime = await load_runtime(binary)
    with pytest.raises(BadRequest) as info:
        await runtime.predict(request(ROWS, outputs=["predict", "decision_function"]))
    message = str(info.value)
    assert "'decision_function'" in message
    assert message.endswith(
        "it can produce: predict, predict_proba, predict_raw, predict_contrib, predict_leaf"
    )


async def test_wrong_feature_count_says_both_numbers(
    load_runtime: LoadRuntime, binary: lgb.Booster
) -> None:
    runtime = await load_runtime(binary)
    with pytest.raises(BadRequest, match="expects 5 features per row, the request has 4"):
        await runtime.predict(request(ROWS[:, :4]))
    with pytest.raises(BadRequest, match="expects 5 features per row, the request has 1"):
        await runtime.predict(request(ROWS[0]))


def columns(names: list[str], order: list[int], outputs: list[str]) -> InferenceRequest:
    """One ``[rows]`` input per column of ``ROWS[:, order]``, named ``names``."""
    inputs = [tensor(name, ROWS[:, i]) for name, i in zip(names, order, strict=True)]
    return InferenceRequest(inputs=inputs, outputs=request(outputs=outputs).outputs)


async def test_several_inputs_are_columns(load_runtime: LoadRuntime, binary: lgb.Booster) -> None:
    runtime = await load_runtime(binary)
    expected = binary.predict(ROWS, raw_score=True)
    plain = columns([f"input-{i}" for i in range(5)], [0, 1, 2, 3, 4], ["predict_raw"])
    np.testing.assert_allclose((await runtime.predict(plain)).outputs[0].data, expected)
    # Named after the model's features, in any order: placed by name.
    order = [4, 0, 3, 1, 2]
    named = columns(["score", "age", "visits", "income", "tenure"], order, ["predict_raw"])
    np.testing.assert_allclose((await runtime.predict(named)).outputs[0].data, expected)
    # Other names: request order, so the columns arrive moved and the answer changes with them.
    other = columns([f"c{i}" for i in range(5)], order, ["predict_raw"])
    moved = (await runtime.predict(other)).outputs[0].data
    np.testing.assert_allclose(moved, binary.predict(ROWS[:, order], raw_score=True))
    assert not np.allclose(moved, expected)


async def test_bad_layouts(load_runtime: LoadRuntime, binary: lgb.Booster) -> None:
    runtime = await load_runtime(binary)
    with pytest.raises(BadRequest, match="different row counts"):
        await runtime.predict(request(ROWS[:, 0], ROWS[:3, 1], *[ROWS[:, i] for i in (2, 3, 4)]))
    with pytest.raises(BadRequest, match=r"'input-1' has shape \[7, 2\]"):
        await runtime.predict(request(ROWS[:, 0], ROWS[:, 1:3], ROWS[:, 3], ROWS[:, 4]))
    with pytest.raises(BadRequest, match=r"shape \[1, 7, 5\]"):
        await runtime.predict(request(ROWS.reshape(1, 7, 5)))
    with pytest.raises(BadRequest, match="no inputs"):
        await runtime.predict(InferenceRequest(inputs=[]))
    text = np.array([b"a"] * 5, dtype=object).reshape(1, 5)
    with pytest.raises(BadRequest, match="'input-0' is BYTES: LightGBM models take numeric"):
        await runtime.predict(request(text))


async def test_float32_integer_and_bool_inputs(
    load_runtime: LoadRuntime, regression: lgb.Booster
) -> None:
    runtime = await load_runtime(regression)
    for rows in (
        ROWS.astype(np.float32),
        np.rint(np.nan_to_num(ROWS)).astype(np.int32),
        np.nan_to_num(ROWS) > 0,
    ):
        (output,) = (await runtime.predict(request(rows))).outputs
        np.testing.assert_allclose(output.data, regression.predict(rows))


async def test_nan_is_a_missing_value(load_runtime: LoadRuntime, regression: lgb.Booster) -> None:
    runtime = await load_runtime(regression)
    (output,) = (await runtime.predict(request(ROWS[6:]))).outputs
    assert np.isfinite(output.data).all()
    np.testing.assert_allclose(output.data, regression.predict(ROWS[6:]))


async def test_threads_setting_gives_the_same_answers(
    load_runtime: LoadRuntime, multiclass: lgb.Booster
) -> None:
    for threads in (1, 2, 0):
        runtime = await load_runtime(multiclass, extra={"num_threads": threads})
        out = by_name((await runtime.predict(request(ROWS, outputs=ALL))).outputs)
        np.testing.assert_allclose(out["predict_proba"], multiclass.predict(ROWS))
        assert_common(out, multiclass)


async def test_concurrent_predicts_on_one_model(
    load_runtime: LoadRuntime, multiclass: lgb.Booster
) -> None:
    # The kernel runs predict calls in executor threads, several at once on one Booster.
    runtime = await load_runtime(multiclass)
    batches = [ROWS[i % 7 : i % 7 + 1 + i % 3] for i in range(40)]

    def call(rows: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        response = asyncio.run(runtime.predict(request(rows, outputs=["predict_proba"])))
        return np.asarray(response.outputs[0].data)

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(call, batches))
    for rows, answer in zip(batches, answers, strict=True):
        np.testing.assert_allclose(answer, multiclass.predict(rows))
