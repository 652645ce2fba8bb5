"""Model metadata: inputs (width, feature names, which are categorical) and the outputs the
model can produce, read from the saved model."""

from __future__ import annotations

import pytest
from catboost_support import LoadRuntime, Trained

from protocol.messages import MetadataTensor

pytestmark = pytest.mark.anyio


def described(tensors: list[MetadataTensor]) -> list[tuple[str, str, list[int]]]:
    return [(t.name, t.datatype, t.shape) for t in tensors]


async def test_binary_classifier(load_runtime: LoadRuntime, binary: Trained) -> None:
    runtime = await load_runtime(binary)
    assert runtime.info is not None
    assert runtime.info.kind == "classifier"
    assert described(runtime.inputs()) == [("input-0", "FP32", [-1, 4])]
    assert described(runtime.outputs()) == [
        ("predict", "BYTES", [-1]),
        ("predict_proba", "FP64", [-1, 2]),
        ("predict_raw", "FP64", [-1]),
        ("predict_contrib", "FP64", [-1, 5]),
    ]


async def test_multiclass(load_runtime: LoadRuntime, multiclass: Trained) -> None:
    runtime = await load_runtime(multiclass, fmt="json")
    assert described(runtime.outputs()) == [
        ("predict", "INT64", [-1]),
        ("predict_proba", "FP64", [-1, 3]),
        ("predict_raw", "FP64", [-1, 3]),
        ("predict_contrib", "FP64", [-1, 3, 5]),
    ]


@pytest.mark.parametrize(
    ("fixture", "kind", "loss"),
    [
        ("regressor", "regressor", "RMSE"),
        ("poisson", "regressor", "Poisson"),
        ("yetirank", "ranker", "YetiRank"),
        ("queryrmse", "ranker", "QueryRMSE"),
    ],
)
async def test_kind_comes_from_the_saved_loss(
    request: pytest.FixtureRequest, load_runtime: LoadRuntime, fixture: str, kind: str, loss: str
) -> None:
    runtime = await load_runtime(request.getfixturevalue(fixture))
    assert runtime.info is not None
    assert (runtime.info.kind, runtime.info.loss) == (kind, loss)
    assert described(runtime.outputs()) == [
        ("predict", "FP64", [-1]),
        ("predict_raw", "FP64", [-1]),
        ("predict_contrib", "FP64", [-1, 5]),
    ]


async def test_categorical_model_lists_one_input_per_feature(
    load_runtime: LoadRuntime, text: Trained
) -> None:
    runtime = await load_runtime(text)
    assert [(t.name, t.datatype, t.shape, t.parameters) for t in runtime.inputs()] == [
        ("age", "FP32", [-1], {"feature_type": "numeric"}),
        ("city", "BYTES", [-1], {"feature_type": "categorical"}),
        ("income", "FP32", [-1], {"feature_type": "numeric"}),
        ("plan", "BYTES", [-1], {"feature_type": "categorical"}),
        ("note", "BYTES", [-1], {"feature_type": "text"}),
    ]
    assert runtime.outputs()[-1] == MetadataTensor(
        name="predict_contrib", datatype="FP64", shape=[-1, 6]
    )


async def test_declared_metadata_takes_precedence(
    load_runtime: LoadRuntime, binary: Trained
) -> None:
    inputs = [MetadataTensor(name="x", datatype="FP64", shape=[-1, 4])]
    outputs = [MetadataTensor(name="predict", datatype="BYTES", shape=[-1])]
    runtime = await load_runtime(binary, inputs=inputs, outputs=outputs)
    assert runtime.inputs() == inputs
    assert runtime.outputs() == outputs
