"""Every model kind through ``MLlibRuntime``, in process, compared with Spark's own
``transform`` on the same rows: the local path (small requests to single models), the
DataFrame path (pipelines, large requests) and the legacy ``pyspark.mllib`` path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from mllib_support import NUMBERS, Trained, stacked, transformed

from kernel import BadRequest
from kernel.repository import scan
from kernel_mllib import MLlibRuntime
from protocol.datatypes import datatype_for_dtype
from protocol.messages import InferenceRequest, RequestInput, RequestOutput

# The first test carries the session's Spark start and training (minutes on a loaded machine).
pytestmark = [pytest.mark.anyio, pytest.mark.timeout(900)]


async def load(folder: Path, **extra: Any) -> MLlibRuntime:
    (source,) = scan(folder)
    assert source.settings is not None, source.error
    settings = source.settings
    if extra:
        params = settings.parameters.__class__(
            **{**_fields(settings.parameters), "extra": {**settings.extra, **extra}}
        )
        settings = settings.__class__(**{**_fields(settings), "parameters": params})
    runtime = MLlibRuntime(settings)
    await runtime.load()
    return runtime


def _fields(struct: Any) -> dict[str, Any]:
    return {name: getattr(struct, name) for name in struct.__struct_fields__}


def tensor(name: str, array: np.ndarray[Any, Any]) -> RequestInput:
    return RequestInput(
        name=name,
        shape=list(array.shape),
        datatype=datatype_for_dtype(array.dtype).name,
        data=array,
    )


def request(*inputs: RequestInput, outputs: list[str] | None = None) -> InferenceRequest:
    req = InferenceRequest(inputs=list(inputs))
    if outputs is not None:
        req.outputs = [RequestOutput(name=n) for n in outputs]
    return req


def pipeline_inputs(frame: Any) -> list[RequestInput]:
    colour = np.asarray([c.encode() for c in frame["colour"]], dtype=object)
    return [
        *[tensor(n, frame[n].to_numpy(dtype=np.float64)) for n in NUMBERS],
        tensor("colour", colour),
    ]


def outputs_of(response: Any) -> dict[str, np.ndarray[Any, Any]]:
    return {o.name: np.asarray(o.data) for o in response.outputs}


async def test_pipeline_named_inputs_match_transform(spark: Any, trained: Trained) -> None:
    runtime = await load(trained.root / "churn")
    try:
        wanted = ["prediction", "probability", "rawPrediction", "colour_index"]
        got = outputs_of(
            await runtime.predict(request(*pipeline_inputs(trained.frame), outputs=wanted))
        )
    finally:
        await runtime.unload()
    want = transformed(spark, trained.pipeline, trained.frame)
    np.testing.assert_array_equal(got["prediction"], want["prediction"].to_numpy())
    np.testing.assert_allclose(got["probability"], stacked(want["probability"]), rtol=1e-12)
    np.testing.assert_allclose(got["rawPrediction"], stacked(want["rawPrediction"]), rtol=1e-12)
    np.testing.assert_array_equal(got["colour_index"], want["colour_index"].to_numpy())
    assert got["probability"].shape == (24, 3)
    assert got["prediction"].dtype == np.float64


@pytest.mark.parametrize("local_max_rows", [64, 0])
async def test_forest_both_paths_match_transform(
    spark: Any, trained: Trained, local_max_rows: int
) -> None:
    runtime = await load(trained.root / "tiers", local_max_rows=local_max_rows)
    try:
        wanted = ["prediction", "probability", "rawPrediction"]
        got = outputs_of(
            await runtime.predict(request(tensor("input-0", trained.matrix), outputs=wanted))
        )
    finally:
        await runtime.unload()
    want = transformed(spark, trained.forest, trained.frame)
    np.testing.assert_array_equal(got["prediction"], want["prediction"].to_numpy())
    np.testing.assert_allclose(got["probability"], stacked(want["probability"]), rtol=1e-12)
    np.testing.assert_allclose(got["rawPrediction"], stacked(want["rawPrediction"]), rtol=1e-12)


async def test_kmeans_cluster_indexes_are_int32(spark: Any, trained: Trained) -> None:
    runtime = await load(trained.root / "segments")
    try:
        small = outputs_of(await runtime.predict(request(tensor("features", trained.matrix))))
        one = outputs_of(await runtime.predict(request(tensor("features", trained.matrix[0]))))
    finally:
        await runtime.unload()
    want = transformed(spark, trained.kmeans, trained.frame)["prediction"].to_numpy()
    assert small["prediction"].dtype == np.int32
    np.testing.assert_array_equal(small["prediction"], want)
    np.testing.assert_array_equal(one["prediction"], want[:1])


async def test_gbt_regressor_dataframe_path(spark: Any, trained: Trained) -> None:
    runtime = await load(trained.root / "spend")  # local_max_rows 0 in its settings
    try:
        got = outputs_of(await runtime.predict(request(tensor("input-0", trained.matrix))))
    finally:
        await runtime.unload()
    want = transformed(spark, trained.gbt, trained.frame)["prediction"].to_numpy()
    np.testing.assert_allclose(got["prediction"], want, rtol=1e-12)


async def test_legacy_decision_tree_rows_and_rdd(trained: Trained) -> None:
    runtime = await load(trained.root / "legacy")
    rng = np.random.default_rng(4)
    large = rng.normal(size=(300, 3))  # above LEGACY_RDD_ROWS: one RDD job
    try:
        small = outputs_of(await runtime.predict(request(tensor("input-0", trained.matrix))))
        big = outputs_of(await runtime.predict(request(tensor("input-0", large))))
        with pytest.raises(BadRequest, match="produces only 'prediction'"):
            await runtime.predict(
                request(tensor("input-0", trained.matrix), outputs=["probability"])
            )
    finally:
        await runtime.unload()
    model = trained.legacy
    assert list(small) == ["prediction"]
    np.testing.assert_array_equal(small["prediction"], [model.predict(r) for r in trained.matrix])
    np.testing.assert_array_equal(big["prediction"], [model.predict(r) for r in large])


async def test_metadata(trained: Trained) -> None:
    churn = await load(trained.root / "churn")
    tiers = await load(trained.root / "tiers")
    legacy = await load(trained.root / "legacy")
    try:
        assert [(t.name, t.datatype, t.shape) for t in churn.inputs()] == [
            ("colour", "BYTES", [-1]),
            ("x0", "FP64", [-1]),
            ("x1", "FP64", [-1]),
            ("x2", "FP64", [-1]),
        ]
        assert [(t.name, t.datatype, t.shape) for t in tiers.inputs()] == [
            ("features", "FP64", [-1, 3])
        ]
        assert [(t.name, t.datatype, t.shape) for t in tiers.outputs()] == [
            ("prediction", "FP64", [-1]),
            ("probability", "FP64", [-1, 3]),
            ("rawPrediction", "FP64", [-1, 3]),
        ]
        assert [(t.name, t.shape) for t in legacy.outputs()] == [("prediction", [-1])]
    finally:
        for runtime in (churn, tiers, legacy):
            await runtime.unload()


async def test_bad_requests_name_the_problem(trained: Trained) -> None:
    churn = await load(trained.root / "churn")
    tiers = await load(trained.root / "tiers")
    try:
        inputs = pipeline_inputs(trained.frame)
        with pytest.raises(BadRequest, match="missing input\\(s\\) 'x2'"):
            await churn.predict(request(*[i for i in inputs if i.name != "x2"]))
        with pytest.raises(BadRequest, match="cannot produce output 'nope'"):
            await churn.predict(request(*inputs, outputs=["nope"]))
        with pytest.raises(BadRequest, match="expects 3 features per row"):
            await tiers.predict(request(tensor("input-0", np.zeros((2, 5)))))
        unseen = [
            i if i.name != "colour" else tensor("colour", np.asarray([b"mauve"] * 24, dtype=object))
            for i in inputs
        ]
        with pytest.raises(BadRequest, match="Spark rejected the input"):
            await churn.predict(request(*unseen))
    finally:
        await churn.unload()
        await tiers.unload()


async def test_unload_leaves_a_session_it_did_not_start(spark: Any, trained: Trained) -> None:
    runtime = await load(trained.root / "tiers")
    await runtime.unload()
    # The tests' own session (active when the model loaded) is still usable.
    assert spark.range(3).count() == 3
