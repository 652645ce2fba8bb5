"""Model metadata: the input width and the outputs the estimator can produce."""

from __future__ import annotations

import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.svm import SVC
from sklearn_support import LoadRuntime

from protocol.messages import MetadataTensor

pytestmark = pytest.mark.anyio


def described(tensors: list[MetadataTensor]) -> list[tuple[str, str, list[int]]]:
    return [(t.name, t.datatype, t.shape) for t in tensors]


async def test_classifier(load_runtime: LoadRuntime, logistic: LogisticRegression) -> None:
    runtime = await load_runtime(logistic)
    assert described(runtime.inputs()) == [("input-0", "FP64", [-1, 4])]
    assert described(runtime.outputs()) == [
        ("predict", "INT64", [-1]),
        ("predict_proba", "FP64", [-1, 3]),
        ("predict_log_proba", "FP64", [-1, 3]),
        ("decision_function", "FP64", [-1, 3]),
    ]


async def test_string_labels(load_runtime: LoadRuntime, string_labels: LogisticRegression) -> None:
    runtime = await load_runtime(string_labels)
    assert runtime.outputs()[0] == MetadataTensor(name="predict", datatype="BYTES", shape=[-1])


async def test_regressor(load_runtime: LoadRuntime, regressor: LinearRegression) -> None:
    runtime = await load_runtime(regressor)
    assert described(runtime.inputs()) == [("input-0", "FP64", [-1, 3])]
    assert described(runtime.outputs()) == [("predict", "FP64", [-1])]


async def test_svc_lists_no_probabilities(load_runtime: LoadRuntime, svc: SVC) -> None:
    runtime = await load_runtime(svc)
    assert [t.name for t in runtime.outputs()] == ["predict", "decision_function"]


async def test_declared_metadata_takes_precedence(
    load_runtime: LoadRuntime, logistic: LogisticRegression
) -> None:
    inputs = [MetadataTensor(name="measurements", datatype="FP32", shape=[-1, 4])]
    outputs = [MetadataTensor(name="predict", datatype="INT64", shape=[-1])]
    runtime = await load_runtime(logistic, inputs=inputs, outputs=outputs)
    assert runtime.inputs() == inputs
    assert runtime.outputs() == outputs
