"""Model metadata: the input width and feature names, and the outputs the model can produce,
whose declared shapes match what predictions really have."""

from __future__ import annotations

from typing import Any

import lightgbm as lgb
import numpy as np
import pytest
from lightgbm_support import FEATURES, ROWS, LoadRuntime, request

from kernel_lightgbm import LightGBMRuntime
from protocol.messages import MetadataTensor

pytestmark = pytest.mark.anyio


def described(tensors: list[MetadataTensor]) -> list[tuple[str, str, list[int]]]:
    return [(t.name, t.datatype, t.shape) for t in tensors]


async def assert_outputs_match_metadata(runtime: LightGBMRuntime) -> None:
    """Every declared output, predicted: datatype and every fixed dimension agree."""
    declared = runtime.outputs()
    response = await runtime.predict(request(ROWS, outputs=[t.name for t in declared]))
    for meta, output in zip(declared, response.outputs, strict=True):
        assert output.datatype == meta.datatype, meta.name
        assert len(output.shape) == len(meta.shape), meta.name
        assert [d for d, m in zip(output.shape, meta.shape, strict=True) if m != -1] == [
            m for m in meta.shape if m != -1
        ], meta.name


async def test_binary_with_feature_names(load_runtime: LoadRuntime, binary: lgb.Booster) -> None:
    runtime = await load_runtime(binary)
    (inp,) = runtime.inputs()
    assert (inp.name, inp.datatype, inp.shape) == ("input-0", "FP64", [-1, 5])
    assert inp.parameters == {"feature_names": FEATURES}
    assert described(runtime.outputs()) == [
        ("predict", "INT64", [-1]),
        ("predict_proba", "FP64", [-1, 2]),
        ("predict_raw", "FP64", [-1]),
        ("predict_contrib", "FP64", [-1, 6]),
        ("predict_leaf", "INT32", [-1, 12]),
    ]
    await assert_outputs_match_metadata(runtime)


async def test_multiclass_without_feature_names(
    load_runtime: LoadRuntime, multiclass: lgb.Booster
) -> None:
    runtime = await load_runtime(multiclass)
    (inp,) = runtime.inputs()
    # LightGBM's generated Column_<i> names are not reported.
    assert inp == MetadataTensor(name="input-0", datatype="FP64", shape=[-1, 5])
    assert described(runtime.outputs()) == [
        ("predict", "INT64", [-1]),
        ("predict_proba", "FP64", [-1, 3]),
        ("predict_raw", "FP64", [-1, 3]),
        ("predict_contrib", "FP64", [-1, 18]),
        ("predict_leaf", "INT32", [-1, 36]),
    ]
    await assert_outputs_match_metadata(runtime)


@pytest.mark.parametrize("fixture", ["regression", "ranker"])
async def test_regression_and_ranking(
    load_runtime: LoadRuntime, request_fixture: pytest.FixtureRequest, fixture: str
) -> None:
    runtime = await load_runtime(request_fixture.getfixturevalue(fixture))
    assert described(runtime.outputs()) == [
        ("predict", "FP64", [-1]),
        ("predict_raw", "FP64", [-1]),
        ("predict_contrib", "FP64", [-1, 6]),
        ("predict_leaf", "INT32", [-1, 12]),
    ]
    await assert_outputs_match_metadata(runtime)


@pytest.fixture
def request_fixture(request: pytest.FixtureRequest) -> pytest.FixtureRequest:
    """pytest's ``request`` (that name is this module's request builder)."""
    return request


async def test_wrapper_labels(
    load_runtime: LoadRuntime,
    classifier: lgb.LGBMClassifier,
    binary_classifier: lgb.LGBMClassifier,
) -> None:
    runtime = await load_runtime(classifier, file="model.joblib")
    assert runtime.outputs()[0] == MetadataTensor(name="predict", datatype="BYTES", shape=[-1])
    await assert_outputs_match_metadata(runtime)
    runtime = await load_runtime(binary_classifier, file="model.joblib")
    assert runtime.outputs()[0] == MetadataTensor(name="predict", datatype="INT64", shape=[-1])
    await assert_outputs_match_metadata(runtime)


async def test_early_stopping_limits_the_leaf_columns(
    load_runtime: LoadRuntime, data: tuple[Any, Any]
) -> None:
    x, target = data
    train, valid = lgb.Dataset(x[:200], target[:200]), lgb.Dataset(x[200:], target[200:])
    booster = lgb.train(
        {"objective": "regression", "verbose": -1, "learning_rate": 0.9},
        train,
        num_boost_round=60,
        valid_sets=[valid],
        callbacks=[lgb.early_stopping(3, verbose=False)],
    )
    assert 0 < booster.best_iteration < 60
    for file in ("model.txt", "model.joblib"):
        runtime = await load_runtime(booster, file=file)
        leaf = runtime.outputs()[-1]
        assert leaf.shape == [-1, np.asarray(booster.predict(ROWS, pred_leaf=True)).shape[1]]
        await assert_outputs_match_metadata(runtime)


async def test_declared_metadata_takes_precedence(
    load_runtime: LoadRuntime, binary: lgb.Booster
) -> None:
    inputs = [MetadataTensor(name="customer", datatype="FP32", shape=[-1, 5])]
    outputs = [MetadataTensor(name="predict_proba", datatype="FP64", shape=[-1, 2])]
    runtime = await load_runtime(binary, inputs=inputs, outputs=outputs)
    assert runtime.inputs() == inputs
    assert runtime.outputs() == outputs
