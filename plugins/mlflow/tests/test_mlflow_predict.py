"""Predictions through the runtime, compared with ``mlflow.pyfunc`` and the flavours' own calls
on the same rows: signature-driven inputs, metadata, params, native outputs and errors."""

from __future__ import annotations

from typing import Any

import mlflow.pyfunc
import numpy as np
import pandas as pd
import pytest
from mlflow_support import LoadRuntime, Saved, rows

from kernel import BadRequest
from kernel.codecs import decode_response, encode_request
from kernel_mlflow._outputs import encode_prediction
from protocol.messages import InferenceRequest, RequestInput, RequestOutput

pytestmark = pytest.mark.anyio


def columns(frame: pd.DataFrame, dtype: Any = np.float64) -> list[RequestInput]:
    """Each column as a V2 client sends it: no content type, no schema."""
    return [
        RequestInput(
            str(c),
            [len(frame)],
            "FP64" if dtype == np.float64 else "FP32",
            data=frame[c].to_numpy(dtype),
        )
        for c in frame.columns
    ]


def by_name(response: Any) -> dict[str, np.ndarray[Any, Any]]:
    return {o.name: np.asarray(o.data) for o in response.outputs}


async def test_metadata_from_signature(load_runtime: LoadRuntime, saved: Saved) -> None:
    runtime = await load_runtime(saved.iris)
    inputs = runtime.inputs()
    assert [(t.name, t.datatype, t.shape) for t in inputs] == [
        (c, "FP64", [-1]) for c in saved.frame.columns
    ]
    outputs = {t.name: (t.datatype, t.shape) for t in runtime.outputs()}
    assert outputs == {
        "predict": ("INT64", [-1]),
        "predict_proba": ("FP64", [-1, 3]),
        "predict_log_proba": ("FP64", [-1, 3]),
        "decision_function": ("FP64", [-1, 3]),
    }


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
async def test_columns_like_pyfunc(load_runtime: LoadRuntime, saved: Saved, dtype: Any) -> None:
    runtime = await load_runtime(saved.iris)
    sample = rows(saved.frame)
    response = await runtime.predict(InferenceRequest(inputs=columns(sample, dtype)))
    expected = mlflow.pyfunc.load_model(str(saved.iris)).predict(sample)
    assert [o.name for o in response.outputs] == ["predict"]
    assert np.array_equal(by_name(response)["predict"], expected)


async def test_native_outputs_like_sklearn(load_runtime: LoadRuntime, saved: Saved) -> None:
    runtime = await load_runtime(saved.iris)
    sample = rows(saved.frame)
    wanted = ["predict_proba", "predict", "decision_function"]
    request = InferenceRequest(
        inputs=columns(sample), outputs=[RequestOutput(name) for name in wanted]
    )
    got = by_name(await runtime.predict(request))
    assert list(got) == wanted
    np.testing.assert_allclose(got["predict_proba"], saved.estimator.predict_proba(sample))
    np.testing.assert_allclose(got["decision_function"], saved.estimator.decision_function(sample))
    assert np.array_equal(got["predict"], saved.estimator.predict(sample))


async def test_native_outputs_like_xgboost(load_runtime: LoadRuntime, saved: Saved) -> None:
    runtime = await load_runtime(saved.xgb)
    sample = rows(saved.frame)
    request = InferenceRequest(
        inputs=columns(sample), outputs=[RequestOutput("predict"), RequestOutput("predict_proba")]
    )
    got = by_name(await runtime.predict(request))
    pyfunc = mlflow.pyfunc.load_model(str(saved.xgb))
    assert np.array_equal(got["predict"], pyfunc.predict(sample))
    np.testing.assert_allclose(got["predict_proba"], saved.booster.predict_proba(sample), rtol=1e-6)
    assert {t.name for t in runtime.outputs()} == {"predict", "predict_proba"}


async def test_unknown_output_lists_the_real_ones(load_runtime: LoadRuntime, saved: Saved) -> None:
    runtime = await load_runtime(saved.scaler)
    request = InferenceRequest(
        inputs=[RequestInput("x", [2], "FP64", data=np.array([1.0, 2.0]))],
        outputs=[RequestOutput("predict_proba")],
    )
    with pytest.raises(BadRequest, match=r"'predict_proba'; it can produce: scaled, label"):
        await runtime.predict(request)


async def test_input_failing_the_signature(load_runtime: LoadRuntime, saved: Saved) -> None:
    runtime = await load_runtime(saved.iris)
    request = InferenceRequest(inputs=columns(rows(saved.frame))[:3])
    with pytest.raises(BadRequest, match=r"missing inputs.*petal_width"):
        await runtime.predict(request)


async def test_params_are_passed_and_checked(load_runtime: LoadRuntime, saved: Saved) -> None:
    runtime = await load_runtime(saved.scaler)
    x = np.array([1.0, 2.0, 4.0])
    request = InferenceRequest(
        inputs=[RequestInput("x", [3], "FP64", data=x)],
        parameters={"factor": 3.0, "prefix": "id", "unrelated": 1},
    )
    value = decode_response(await runtime.predict(request))
    pyfunc = mlflow.pyfunc.load_model(str(saved.scaler))
    expected = pyfunc.predict(pd.DataFrame({"x": x}), params={"factor": 3.0, "prefix": "id"})
    pd.testing.assert_frame_equal(value, expected)
    assert list(value["label"]) == ["id-0", "id-1", "id-2"]
    bad = InferenceRequest(
        inputs=[RequestInput("x", [3], "FP64", data=x)], parameters={"factor": "lots"}
    )
    with pytest.raises(BadRequest, match="factor"):
        await runtime.predict(bad)


async def test_dict_output_one_per_key(load_runtime: LoadRuntime, saved: Saved) -> None:
    runtime = await load_runtime(saved.scaler_dict)
    x = np.array([1.0, 2.0])
    response = await runtime.predict(
        InferenceRequest(inputs=[RequestInput("x", [2], "FP64", data=x)])
    )
    got = by_name(response)
    assert list(got) == ["scaled", "doubled"]
    assert np.array_equal(got["doubled"], x * 2)
    assert {t.name for t in runtime.outputs()} == {"scaled", "doubled"}


async def test_model_without_signature(load_runtime: LoadRuntime, saved: Saved) -> None:
    runtime = await load_runtime(saved.nosig)
    assert runtime.inputs() == []
    x = rows(saved.frame).to_numpy()
    response = await runtime.predict(encode_request(x))
    expected = mlflow.pyfunc.load_model(str(saved.nosig)).predict(x)
    np.testing.assert_allclose(by_name(response)["predict"], expected)


def test_outputs_by_return_type() -> None:
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    assert [o.name for o in encode_prediction(frame).outputs] == ["a", "b"]
    assert [o.name for o in encode_prediction(np.array([[1.0, 2.0]])).outputs] == ["predict"]
    series = encode_prediction(pd.Series([0.5, 1.5], name="s"))
    assert [o.name for o in series.outputs] == ["predict"]
    strings = encode_prediction(["cat", "dog"]).outputs[0]
    assert (strings.name, strings.datatype) == ("predict", "BYTES")
    as_dict = encode_prediction({"p": np.array([1, 2]), "q": [0.1, 0.2]})
    assert [(o.name, o.datatype) for o in as_dict.outputs] == [("p", "INT64"), ("q", "FP64")]
    records = encode_prediction([{"k": 1}, {"k": 2}])
    assert [o.name for o in records.outputs] == ["k"]
    pd.testing.assert_frame_equal(decode_response(encode_prediction(frame)), frame)
