"""Every output the runtime gives equals CatBoost's own calls on the same rows, for every kind
of model and each format it saves (exact for labels, allclose for numbers)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from catboost import CatBoost, Pool
from catboost_support import LoadRuntime, Trained, request, tensor

from kernel import BadRequest
from protocol.messages import InferenceRequest, ResponseOutput

pytestmark = pytest.mark.anyio

#: (fixture, formats it is saved in, outputs it offers)
CLASSIFIER = ("predict", "predict_proba", "predict_raw", "predict_contrib")
OTHER = ("predict", "predict_raw", "predict_contrib")
CASES = [
    ("binary", ("cbm", "json"), CLASSIFIER),
    ("multiclass", ("cbm", "json"), CLASSIFIER),
    ("regressor", ("cbm", "json"), OTHER),
    ("poisson", ("cbm", "json"), OTHER),
    ("yetirank", ("cbm", "json"), OTHER),
    ("queryrmse", ("cbm", "json"), OTHER),
    ("uncertainty", ("cbm", "json"), OTHER),
    ("multitarget", ("cbm", "json"), OTHER),
    ("multilabel", ("cbm", "json"), CLASSIFIER),
    ("categorical", ("cbm", "json"), CLASSIFIER),
    ("text", ("cbm",), OTHER),
]
PARAMS = [
    pytest.param(name, fmt, outputs, id=f"{name}-{fmt}")
    for name, formats, outputs in CASES
    for fmt in formats
]


def as_request(rows: Any, outputs: list[str]) -> InferenceRequest:
    """A matrix for numeric rows; one named input per column (BYTES for text) for a frame."""
    if isinstance(rows, pd.DataFrame):
        inputs = [tensor(str(c), rows[c].to_numpy()) for c in rows.columns]
        return request(inputs, outputs)
    return request([tensor("input-0", rows)], outputs)


def expected(trained: Trained, output: str) -> np.ndarray[Any, Any]:
    """What CatBoost's own estimator gives for ``output`` on the test rows."""
    model, rows = trained.model, trained.rows
    if output == "predict":
        labels = np.asarray(model.predict(rows))
        # Multi-class labels come back as a [rows, 1] column; the runtime answers [rows].
        return labels[:, 0] if labels.ndim == 2 and labels.shape[1] == 1 else labels
    if output == "predict_proba":
        return np.asarray(model.predict_proba(rows))
    if output == "predict_raw":
        # The base class: ``CatBoostRanker.predict`` takes no prediction type.
        return np.asarray(CatBoost.predict(model, rows, prediction_type="RawFormulaVal"))
    pool = Pool(
        rows,
        cat_features=model.get_cat_feature_indices() or None,
        text_features=model.get_text_feature_indices() or None,
    )
    return np.asarray(model.get_feature_importance(pool, type="ShapValues"))


def by_name(outputs: list[ResponseOutput]) -> dict[str, ResponseOutput]:
    return {output.name: output for output in outputs}


@pytest.mark.parametrize(("fixture", "fmt", "outputs"), PARAMS)
async def test_every_output_matches_catboost(
    request: pytest.FixtureRequest,
    load_runtime: LoadRuntime,
    fixture: str,
    fmt: str,
    outputs: tuple[str, ...],
) -> None:
    trained: Trained = request.getfixturevalue(fixture)
    runtime = await load_runtime(trained, fmt=fmt)
    assert runtime.info is not None
    assert runtime.info.outputs == outputs
    response = await runtime.predict(as_request(trained.rows, list(outputs)))
    assert [o.name for o in response.outputs] == list(outputs)
    got = by_name(response.outputs)
    for name in outputs:
        want = expected(trained, name)
        data = got[name].data
        assert isinstance(data, np.ndarray)
        assert got[name].shape == list(want.shape), name
        meta = runtime.outputs()[outputs.index(name)]
        assert got[name].datatype == meta.datatype, name
        assert [-1, *got[name].shape[1:]] == meta.shape, name
        if name == "predict" and want.dtype.kind != "f":
            # Labels, exactly, in their own type (strings travel as UTF-8 BYTES).
            if want.dtype.kind in "OU":
                want = np.asarray([str(v).encode() for v in want], dtype=object)
            np.testing.assert_array_equal(data, want, err_msg=name)
        else:
            np.testing.assert_allclose(data, want, rtol=1e-6, atol=1e-9, err_msg=name)


async def test_label_types(load_runtime: LoadRuntime, binary: Trained, multiclass: Trained) -> None:
    strings = await load_runtime(binary)
    response = await strings.predict(as_request(binary.rows, ["predict"]))
    assert response.outputs[0].datatype == "BYTES"
    assert set(response.outputs[0].data.tolist()) <= {b"yes", b"no"}
    integers = await load_runtime(multiclass)
    response = await integers.predict(as_request(multiclass.rows, ["predict"]))
    assert response.outputs[0].datatype == "INT64"


async def test_no_outputs_named_gives_the_default(
    load_runtime: LoadRuntime, multiclass: Trained
) -> None:
    runtime = await load_runtime(multiclass, extra={"predict_fn": "predict_proba"})
    req = as_request(multiclass.rows, [])
    req.id = "abc"
    response = await runtime.predict(req)
    assert [o.name for o in response.outputs] == ["predict_proba"]
    np.testing.assert_allclose(
        response.outputs[0].data, multiclass.model.predict_proba(multiclass.rows)
    )
    assert (response.model_name, response.model_version, response.id) == ("m", "3", "abc")


async def test_threads_setting_gives_the_same_answer(
    load_runtime: LoadRuntime, regressor: Trained
) -> None:
    runtime = await load_runtime(regressor, extra={"thread_count": 2})
    response = await runtime.predict(as_request(regressor.rows, ["predict"]))
    np.testing.assert_allclose(response.outputs[0].data, regressor.model.predict(regressor.rows))


async def test_unavailable_output_names_those_available(
    load_runtime: LoadRuntime, regressor: Trained
) -> None:
    runtime = await load_runtime(regressor)
    with pytest.raises(BadRequest) as err:
        await runtime.predict(as_request(regressor.rows, ["predict", "predict_proba"]))
    assert str(err.value) == (
        "model 'm' cannot produce output 'predict_proba';"
        " it can produce: predict, predict_raw, predict_contrib"
    )


async def test_feature_count_mismatch_names_both_counts(
    load_runtime: LoadRuntime, binary: Trained
) -> None:
    runtime = await load_runtime(binary)
    with pytest.raises(BadRequest, match="expects 4 features per row, the request has 3"):
        await runtime.predict(as_request(binary.rows[:, :3], ["predict"]))


async def test_one_dimensional_input_is_one_column(
    load_runtime: LoadRuntime, binary: Trained
) -> None:
    runtime = await load_runtime(binary)
    with pytest.raises(BadRequest, match="expects 4 features per row, the request has 1"):
        await runtime.predict(as_request(binary.rows[0], ["predict"]))


async def test_numeric_model_refuses_text(load_runtime: LoadRuntime, regressor: Trained) -> None:
    runtime = await load_runtime(regressor)
    rows = np.array([["1", "2", "3", "4"]], dtype=object)
    with pytest.raises(BadRequest, match="has numeric features only"):
        await runtime.predict(as_request(rows, ["predict"]))


async def test_integer_and_float32_inputs(load_runtime: LoadRuntime, regressor: Trained) -> None:
    runtime = await load_runtime(regressor)
    rows = np.array([[1, 0, -1, 2]], dtype=np.int32)
    response = await runtime.predict(as_request(rows, ["predict"]))
    np.testing.assert_allclose(response.outputs[0].data, regressor.model.predict(rows))
    as32 = regressor.rows.astype(np.float32)
    response = await runtime.predict(as_request(as32, ["predict"]))
    np.testing.assert_allclose(response.outputs[0].data, regressor.model.predict(as32))
