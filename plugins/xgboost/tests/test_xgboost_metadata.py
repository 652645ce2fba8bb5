"""Model metadata: the input width and feature names, and the outputs the model can produce."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import xgboost as xgb
from xgboost_support import LoadRuntime, request

from protocol.messages import MetadataTensor

pytestmark = pytest.mark.anyio


def described(tensors: list[MetadataTensor]) -> list[tuple[str, str, list[int]]]:
    return [(t.name, t.datatype, t.shape) for t in tensors]


async def test_binary_with_feature_names(load_runtime: LoadRuntime, binary: xgb.Booster) -> None:
    runtime = await load_runtime(binary)
    (inp,) = runtime.inputs()
    assert (inp.name, inp.datatype, inp.shape) == ("input-0", "FP32", [-1, 5])
    assert inp.parameters == {"feature_names": ["age", "income", "tenure", "visits", "score"]}
    assert described(runtime.outputs()) == [
        ("predict", "INT64", [-1]),
        ("predict_proba", "FP32", [-1, 2]),
        ("predict_raw", "FP32", [-1]),
        ("predict_contrib", "FP32", [-1, 6]),
        ("predict_leaf", "INT32", [-1, 8]),
    ]
    info = runtime.model_info
    assert info is not None
    assert (info.kind, info.objective, info.n_classes) == ("binary", "binary:logistic", 2)


async def test_multiclass_without_feature_names(
    load_runtime: LoadRuntime, multiclass: xgb.XGBClassifier
) -> None:
    runtime = await load_runtime(multiclass, file="model.ubj")
    (inp,) = runtime.inputs()
    assert (inp.name, inp.shape) == ("input-0", [-1, 5])
    assert not isinstance(inp.parameters, dict)  # no names to give
    assert described(runtime.outputs()) == [
        ("predict", "INT64", [-1]),
        ("predict_proba", "FP32", [-1, 3]),
        ("predict_raw", "FP32", [-1, 3]),
        ("predict_contrib", "FP32", [-1, 3, 6]),
        ("predict_leaf", "INT32", [-1, 18]),  # 6 rounds x 3 classes
    ]
    assert runtime.model_info is not None
    assert runtime.model_info.kind == "multiclass"


async def test_regressor_and_ranker(
    load_runtime: LoadRuntime, regressor: xgb.XGBRegressor, ranker: xgb.XGBRanker
) -> None:
    runtime = await load_runtime(regressor)
    assert runtime.model_info is not None
    assert runtime.model_info.kind == "regressor"
    outputs = described(runtime.outputs())
    assert [o[0] for o in outputs] == ["predict", "predict_raw", "predict_contrib", "predict_leaf"]
    assert outputs[0] == ("predict", "FP32", [-1])
    # Leaves of the trees up to the best iteration only.
    assert outputs[3] == ("predict_leaf", "INT32", [-1, regressor.best_iteration + 1])
    runtime = await load_runtime(ranker)
    assert runtime.model_info is not None
    assert runtime.model_info.kind == "ranker"
    assert runtime.model_info.objective.startswith("rank:")


async def test_linear_booster_has_no_leaves(
    load_runtime: LoadRuntime, data: tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]
) -> None:
    x, y = data
    linear = xgb.train({"booster": "gblinear"}, xgb.DMatrix(x, label=y), 4)
    runtime = await load_runtime(linear)
    assert [t.name for t in runtime.outputs()] == ["predict", "predict_raw", "predict_contrib"]
    rows = x[:6]
    names = ["predict", "predict_contrib"]
    response = await runtime.predict(request(rows, outputs=names))
    d = xgb.DMatrix(rows)
    np.testing.assert_allclose(response.outputs[0].data, linear.predict(d), rtol=1e-6)
    np.testing.assert_allclose(response.outputs[1].data, linear.predict(d, pred_contribs=True))


async def test_declared_metadata_takes_precedence(
    load_runtime: LoadRuntime, binary: xgb.Booster
) -> None:
    inputs = [MetadataTensor(name="customer", datatype="FP64", shape=[-1, 5])]
    outputs = [MetadataTensor(name="predict_proba", datatype="FP32", shape=[-1, 2])]
    runtime = await load_runtime(binary, inputs=inputs, outputs=outputs)
    assert runtime.inputs() == inputs
    assert runtime.outputs() == outputs
