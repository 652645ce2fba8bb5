"""Predicting without a Spark job.

A single fitted ``pyspark.ml`` model answers ``predict`` / ``predictProbability`` /
``predictRaw`` for one vector with one call into the JVM (about a millisecond); a DataFrame
``transform`` and ``collect`` costs hundreds. Small requests to single models take this path;
pipelines, and requests above ``parameters.extra.local_max_rows``, go through a DataFrame.

Legacy ``pyspark.mllib`` models always predict locally: linear models and KMeans in Python,
tree models through their JVM wrapper, one row at a time for small requests and as one RDD job
for large ones.
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np

from kernel_mllib._describe import ModelInfo

__all__ = ["legacy_predict", "local_outputs", "local_predict"]

#: Above this many rows, a legacy tree model predicts through one RDD job instead of row calls.
LEGACY_RDD_ROWS: Final = 256


def local_outputs(info: ModelInfo) -> dict[str, str]:
    """Output column -> the method of the fitted model that computes it for one vector."""
    predictor = info.predictor
    methods: dict[str, str] = {}
    if info.pipeline or predictor is None:
        return methods
    if info.prediction and hasattr(predictor, "predict"):
        methods[info.prediction] = "predict"
    if info.probability and hasattr(predictor, "predictProbability"):
        methods[info.probability] = "predictProbability"
    if info.raw_prediction and hasattr(predictor, "predictRaw"):
        methods[info.raw_prediction] = "predictRaw"
    return methods


def local_predict(
    info: ModelInfo, methods: dict[str, str], rows: np.ndarray[Any, Any], wanted: list[str]
) -> dict[str, np.ndarray[Any, Any]]:
    """Each wanted output for every row of ``rows`` (``[n, features]`` float64)."""
    from pyspark.ml.linalg import Vectors

    vectors = [Vectors.dense(row) for row in rows]
    predictor = info.predictor
    results: dict[str, np.ndarray[Any, Any]] = {}
    for name in wanted:
        call = getattr(predictor, methods[name])
        values = [call(v) for v in vectors]
        if methods[name] == "predict":
            dtype = np.int32 if info.clustering else np.float64
            results[name] = np.asarray(values, dtype=dtype)
        else:
            results[name] = np.asarray([v.toArray() for v in values], dtype=np.float64).reshape(
                len(vectors), -1
            )
    return results


def legacy_predict(model: Any, session: Any, rows: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """``prediction`` of a legacy ``pyspark.mllib`` model for every row."""
    from pyspark.mllib.common import JavaModelWrapper
    from pyspark.mllib.linalg import Vectors

    vectors = [Vectors.dense(row) for row in rows]
    java_backed: bool = isinstance(model, JavaModelWrapper)
    if java_backed and len(vectors) > LEGACY_RDD_ROWS:
        # parallelize keeps the order of the list; collect returns it.
        values = model.predict(session.sparkContext.parallelize(vectors)).collect()
    else:
        values = [model.predict(v) for v in vectors]
    array = np.asarray(values)
    if array.dtype.kind == "i":
        # Class labels and cluster indexes; the widths pyspark uses differ by model.
        return array.astype(np.int32 if _is_clustering(model) else np.float64)
    return array.astype(np.float64)


def _is_clustering(model: Any) -> bool:
    return type(model).__name__ in {"KMeansModel", "GaussianMixtureModel", "BisectingKMeansModel"}
