"""Every output the runtime gives equals the estimator's own method on the same rows."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.svm import SVC
from sklearn_support import LoadRuntime

from kernel import BadRequest
from protocol.datatypes import datatype_for_dtype
from protocol.messages import InferenceRequest, RequestInput, RequestOutput, ResponseOutput

pytestmark = pytest.mark.anyio

ROWS = np.array([[5.1, 3.5, 1.4, 0.2], [6.2, 2.9, 4.3, 1.3], [7.7, 3.0, 6.1, 2.3]])


def tensor(name: str, array: np.ndarray[Any, Any]) -> RequestInput:
    return RequestInput(
        name=name,
        shape=list(array.shape),
        datatype=datatype_for_dtype(array.dtype).name,
        data=array,
    )


def request(
    *arrays: np.ndarray[Any, Any], outputs: list[str] | None = None, id: str | None = None
) -> InferenceRequest:
    req = InferenceRequest(inputs=[tensor(f"input-{i}", a) for i, a in enumerate(arrays)])
    if outputs is not None:
        req.outputs = [RequestOutput(name=name) for name in outputs]
    if id is not None:
        req.id = id
    return req


def by_name(outputs: list[ResponseOutput]) -> dict[str, ResponseOutput]:
    return {output.name: output for output in outputs}


async def test_logistic_every_output_matches_the_estimator(
    load_runtime: LoadRuntime, logistic: LogisticRegression
) -> None:
    runtime = await load_runtime(logistic)
    names = ["predict", "predict_proba", "predict_log_proba", "decision_function"]
    response = await runtime.predict(request(ROWS, outputs=names))
    assert [o.name for o in response.outputs] == names
    out = by_name(response.outputs)
    np.testing.assert_array_equal(out["predict"].data, logistic.predict(ROWS))
    assert out["predict"].datatype == "INT64"
    assert out["predict"].shape == [3]
    np.testing.assert_allclose(out["predict_proba"].data, logistic.predict_proba(ROWS))
    assert out["predict_proba"].datatype == "FP64"
    assert out["predict_proba"].shape == [3, 3]
    np.testing.assert_allclose(out["predict_log_proba"].data, logistic.predict_log_proba(ROWS))
    np.testing.assert_allclose(out["decision_function"].data, logistic.decision_function(ROWS))


async def test_no_outputs_named_gives_predict(
    load_runtime: LoadRuntime, logistic: LogisticRegression
) -> None:
    runtime = await load_runtime(logistic)
    response = await runtime.predict(request(ROWS, id="abc"))
    assert [o.name for o in response.outputs] == ["predict"]
    np.testing.assert_array_equal(response.outputs[0].data, logistic.predict(ROWS))
    assert response.model_name == "m"
    assert response.model_version == "3"
    assert response.id == "abc"


async def test_predict_fn_sets_the_default_output(
    load_runtime: LoadRuntime, logistic: LogisticRegression
) -> None:
    runtime = await load_runtime(logistic, extra={"predict_fn": "predict_proba"})
    response = await runtime.predict(request(ROWS))
    assert [o.name for o in response.outputs] == ["predict_proba"]
    np.testing.assert_allclose(response.outputs[0].data, logistic.predict_proba(ROWS))
    # Naming outputs still overrides the default.
    named = await runtime.predict(request(ROWS, outputs=["predict"]))
    np.testing.assert_array_equal(named.outputs[0].data, logistic.predict(ROWS))


async def test_string_labels_are_bytes(
    load_runtime: LoadRuntime, string_labels: LogisticRegression
) -> None:
    runtime = await load_runtime(string_labels)
    response = await runtime.predict(request(ROWS))
    (output,) = response.outputs
    assert output.datatype == "BYTES"
    expected = [label.encode() for label in string_labels.predict(ROWS)]
    assert list(output.data) == expected == [b"setosa", b"versicolor", b"virginica"]


async def test_regressor(load_runtime: LoadRuntime, regressor: LinearRegression) -> None:
    runtime = await load_runtime(regressor)
    response = await runtime.predict(request(ROWS[:, :3]))
    (output,) = response.outputs
    assert output.datatype == "FP64"
    assert output.shape == [3]
    np.testing.assert_allclose(output.data, regressor.predict(ROWS[:, :3]))
    with pytest.raises(BadRequest, match=r"it can produce: predict$"):
        await runtime.predict(request(ROWS[:, :3], outputs=["predict_proba"]))


async def test_pipeline_outputs_come_from_its_last_step(
    load_runtime: LoadRuntime, pipeline: Pipeline
) -> None:
    runtime = await load_runtime(pipeline)
    names = ["predict", "predict_proba", "decision_function"]
    out = by_name((await runtime.predict(request(ROWS, outputs=names))).outputs)
    np.testing.assert_array_equal(out["predict"].data, pipeline.predict(ROWS))
    np.testing.assert_allclose(out["predict_proba"].data, pipeline.predict_proba(ROWS))
    np.testing.assert_allclose(out["decision_function"].data, pipeline.decision_function(ROWS))
    # The pipeline's last step is a classifier, so it has no transform.
    with pytest.raises(BadRequest, match="'transform'"):
        await runtime.predict(request(ROWS, outputs=["transform"]))


async def test_transformer_pipeline(load_runtime: LoadRuntime, iris: Any) -> None:
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    reducer = Pipeline([("scale", StandardScaler()), ("pca", PCA(n_components=2))]).fit(iris[0])
    runtime = await load_runtime(reducer)
    assert runtime.default_output == "transform"
    (output,) = (await runtime.predict(request(ROWS))).outputs
    assert output.name == "transform"
    assert output.shape == [3, 2]
    np.testing.assert_allclose(output.data, reducer.transform(ROWS))
    assert [(t.name, t.shape) for t in runtime.outputs()] == [("transform", [-1, 2])]


async def test_svc_without_probabilities(load_runtime: LoadRuntime, svc: SVC) -> None:
    runtime = await load_runtime(svc)
    out = by_name((await runtime.predict(request(ROWS, outputs=["decision_function"]))).outputs)
    np.testing.assert_allclose(out["decision_function"].data, svc.decision_function(ROWS))
    with pytest.raises(BadRequest) as info:
        await runtime.predict(request(ROWS, outputs=["predict", "predict_proba"]))
    message = str(info.value)
    assert "'predict_proba'" in message
    assert "it can produce: predict, decision_function" in message


async def test_wrong_feature_count_says_both_numbers(
    load_runtime: LoadRuntime, logistic: LogisticRegression
) -> None:
    runtime = await load_runtime(logistic)
    with pytest.raises(BadRequest, match="expects 4 features per row, the request has 3"):
        await runtime.predict(request(ROWS[:, :3]))
    # A 1-D single input is one feature column, never silently a row.
    with pytest.raises(BadRequest, match="expects 4 features per row, the request has 1"):
        await runtime.predict(request(ROWS[0]))


async def test_several_inputs_are_columns_in_order(
    load_runtime: LoadRuntime, logistic: LogisticRegression
) -> None:
    runtime = await load_runtime(logistic)
    columns = [ROWS[:, 0], ROWS[:, 1].reshape(-1, 1), ROWS[:, 2], ROWS[:, 3]]
    response = await runtime.predict(request(*columns, outputs=["predict_proba"]))
    np.testing.assert_allclose(response.outputs[0].data, logistic.predict_proba(ROWS))
    # Order matters: swapping two columns changes the answer the estimator gives.
    swapped = [columns[0], columns[1], columns[3], columns[2]]
    response = await runtime.predict(request(*swapped, outputs=["predict_proba"]))
    expected = logistic.predict_proba(ROWS[:, [0, 1, 3, 2]])
    np.testing.assert_allclose(response.outputs[0].data, expected)


async def test_bad_layouts(load_runtime: LoadRuntime, logistic: LogisticRegression) -> None:
    runtime = await load_runtime(logistic)
    with pytest.raises(BadRequest, match="different row counts"):
        await runtime.predict(request(ROWS[:, 0], ROWS[:2, 1], ROWS[:, 2], ROWS[:, 3]))
    with pytest.raises(BadRequest, match=r"'input-1' has shape \[3, 2\]"):
        await runtime.predict(request(ROWS[:, 0], ROWS[:, 1:3], ROWS[:, 3]))
    with pytest.raises(BadRequest, match=r"shape \[1, 3, 4\]"):
        await runtime.predict(request(ROWS.reshape(1, 3, 4)))
    with pytest.raises(BadRequest, match="no inputs"):
        await runtime.predict(InferenceRequest(inputs=[]))


async def test_input_the_estimator_rejects_is_a_bad_request(
    load_runtime: LoadRuntime, logistic: LogisticRegression
) -> None:
    runtime = await load_runtime(logistic)
    rows = ROWS.copy()
    rows[1, 2] = np.nan
    with pytest.raises(BadRequest, match=r"predict rejected the input: .*NaN"):
        await runtime.predict(request(rows))


async def test_float32_and_integer_inputs(
    load_runtime: LoadRuntime, logistic: LogisticRegression
) -> None:
    runtime = await load_runtime(logistic)
    for rows in (ROWS.astype(np.float32), np.rint(ROWS).astype(np.int32)):
        response = await runtime.predict(request(rows, outputs=["predict_proba"]))
        np.testing.assert_allclose(response.outputs[0].data, logistic.predict_proba(rows))


async def test_text_inputs_reach_a_pipeline_as_str(load_runtime: LoadRuntime) -> None:
    from sklearn.compose import ColumnTransformer
    from sklearn.preprocessing import OneHotEncoder

    colours = np.array([["red", 1.0], ["blue", 2.0], ["green", 0.5], ["red", 3.0]], dtype=object)
    target = np.array([0, 1, 1, 0])
    model = Pipeline(
        [
            (
                "encode",
                ColumnTransformer([("onehot", OneHotEncoder(), [0])], remainder="passthrough"),
            ),
            ("clf", LogisticRegression()),
        ]
    ).fit(colours, target)
    runtime = await load_runtime(model)
    text = np.array([c.encode() for c in colours[:, 0]], dtype=object)
    response = await runtime.predict(
        request(text, colours[:, 1].astype(np.float64), outputs=["predict", "predict_proba"])
    )
    out = by_name(response.outputs)
    np.testing.assert_array_equal(out["predict"].data, model.predict(colours))
    np.testing.assert_allclose(out["predict_proba"].data, model.predict_proba(colours))
    bad = np.array([b"\xff\xfe", b"red", b"red", b"red"], dtype=object)
    with pytest.raises(BadRequest, match="'input-0': element 0 is not UTF-8"):
        await runtime.predict(request(bad, colours[:, 1].astype(np.float64)))
