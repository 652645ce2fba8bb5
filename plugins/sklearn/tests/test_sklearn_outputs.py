"""What the runtime does with what an estimator's method returns: numbers pass through as they
are, sparse results become dense, text becomes BYTES, a list per target is refused; and the
methods looked up at load follow the model through unload and a new load."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.multioutput import MultiOutputClassifier
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder
from sklearn_support import LoadRuntime

from kernel import BadRequest
from protocol.messages import InferenceRequest, RequestInput, RequestOutput

pytestmark = pytest.mark.anyio

ROWS = np.array([[5.1, 3.5, 1.4, 0.2], [6.2, 2.9, 4.3, 1.3], [7.7, 3.0, 6.1, 2.3]])


def request(tensor: RequestInput, *outputs: str) -> InferenceRequest:
    return InferenceRequest(
        inputs=[tensor], outputs=[RequestOutput(name=name) for name in outputs] or []
    )


def fp64(rows: np.ndarray[Any, Any]) -> RequestInput:
    return RequestInput(name="x", shape=list(rows.shape), datatype="FP64", data=rows)


def text(rows: list[list[bytes]]) -> RequestInput:
    data = np.array(rows, dtype=object)
    return RequestInput(name="x", shape=list(data.shape), datatype="BYTES", data=data)


async def test_repeated_names_get_an_output_each(
    load_runtime: LoadRuntime, logistic: LogisticRegression
) -> None:
    runtime = await load_runtime(logistic)
    names = ["predict_proba", "predict", "predict_proba"]
    outputs = (await runtime.predict(request(fp64(ROWS), *names))).outputs
    assert [o.name for o in outputs] == names
    # Separate messages (a codec may replace one's data with its wire form), same values.
    assert outputs[0] is not outputs[2]
    np.testing.assert_array_equal(outputs[0].data, outputs[2].data)
    np.testing.assert_allclose(outputs[0].data, logistic.predict_proba(ROWS))
    np.testing.assert_array_equal(outputs[1].data, logistic.predict(ROWS))


async def test_unload_then_load_again_serves_the_new_file(
    load_runtime: LoadRuntime, logistic: LogisticRegression
) -> None:
    runtime = await load_runtime(logistic)
    await runtime.unload()
    with pytest.raises(RuntimeError, match="model 'm' is not loaded"):
        await runtime.predict(request(fp64(ROWS)))
    await runtime.load()
    (output,) = (await runtime.predict(request(fp64(ROWS), "predict_log_proba"))).outputs
    np.testing.assert_allclose(output.data, logistic.predict_log_proba(ROWS))


async def test_a_list_per_target_is_refused(load_runtime: LoadRuntime, iris: Any) -> None:
    x, y = iris
    model = MultiOutputClassifier(LogisticRegression(max_iter=500)).fit(x, np.c_[y, y % 2])
    runtime = await load_runtime(model)
    # predict gives one [rows, targets] array, which the runtime serves ...
    (output,) = (await runtime.predict(request(fp64(ROWS)))).outputs
    assert (output.datatype, output.shape) == ("INT64", [3, 2])
    np.testing.assert_array_equal(output.data, model.predict(ROWS))
    # ... predict_proba gives a list of arrays, one per target, which it cannot.
    with pytest.raises(BadRequest) as caught:
        await runtime.predict(request(fp64(ROWS), "predict_proba"))
    assert str(caught.value) == (
        "model 'm': predict_proba returns one array per target (a multi-output model);"
        " the sklearn runtime serves single-array outputs only"
    )


async def test_a_sparse_result_is_sent_dense(load_runtime: LoadRuntime) -> None:
    encoder = OneHotEncoder().fit(np.array([["red"], ["blue"], ["green"]], dtype=object))
    runtime = await load_runtime(encoder)
    (output,) = (await runtime.predict(request(text([[b"red"], [b"blue"]])))).outputs
    assert type(output.data) is np.ndarray
    assert (output.datatype, output.shape) == ("FP64", [2, 3])
    # Categories are sorted: blue, green, red.
    np.testing.assert_array_equal(output.data, [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])


async def test_text_and_mixed_object_results_are_bytes(load_runtime: LoadRuntime) -> None:
    identity = FunctionTransformer().fit(np.array([["a", "b"]], dtype=object))
    runtime = await load_runtime(identity)
    (output,) = (await runtime.predict(request(text([[b"caf\xc3\xa9", b"b"]])))).outputs
    assert (output.datatype, output.shape) == ("BYTES", [1, 2])
    assert output.data.tolist() == [["café".encode(), b"b"]]

    # Object arrays that hold only numbers are numbers on the wire.
    numbers = RequestInput(
        name="x", shape=[1, 2], datatype="FP64", data=np.array([[1.5, 2.0]], dtype=object)
    )
    (output,) = (await runtime.predict(request(numbers))).outputs
    assert (output.datatype, output.data.dtype) == ("FP64", np.float64)
    np.testing.assert_array_equal(output.data, [[1.5, 2.0]])
