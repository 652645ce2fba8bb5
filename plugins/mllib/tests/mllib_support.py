"""Real Spark models trained once, shared by the plugin's tests and the end-to-end tests (a
module of its own: test directories have no packages).

``train`` fits, on one dataset of three numbers and a colour: a ``PipelineModel``
(``StringIndexer`` + ``VectorAssembler`` + ``LogisticRegression``), a ``RandomForest``
classifier (three classes), a ``KMeans``, a ``GBTRegressor`` (single models reading a feature
vector) and a legacy ``pyspark.mllib`` ``DecisionTree``, and saves each in its own model folder
with a ``model-settings.json``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

NUMBERS = ["x0", "x1", "x2"]
COLOURS = ["red", "green", "blue"]


def start_session() -> Any:
    """A local[2] SparkSession bound to the loopback interface, without its web UI."""
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from pyspark.sql import SparkSession

    return (
        SparkSession.builder.master("local[2]")
        .appName("kernel-mllib-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .getOrCreate()
    )


@dataclass
class Trained:
    """The saved models' folders, the fitted models, and the rows tests score."""

    root: Path
    frame: Any  # pandas: id, x0, x1, x2, colour (the rows tests send)
    pipeline: Any
    forest: Any
    kmeans: Any
    gbt: Any
    legacy: Any

    @property
    def matrix(self) -> np.ndarray[Any, Any]:
        """The rows' numbers as a [rows, 3] float64 feature tensor."""
        return np.ascontiguousarray(self.frame[NUMBERS].to_numpy(dtype=np.float64))


def dataset(rows: int, seed: int) -> Any:
    """``rows`` rows: id, three numbers, a colour and a three-class label."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 3))
    colour = rng.choice(COLOURS, size=rows)
    score = x[:, 0] - x[:, 1] + (colour == "red") * 1.5
    return pd.DataFrame(
        {
            "id": np.arange(rows, dtype=np.int64),
            "x0": x[:, 0],
            "x1": x[:, 1],
            "x2": x[:, 2],
            "colour": colour.astype(object),
            "label": np.digitize(score, [-0.5, 0.8]).astype(np.float64),
            "amount": 3 * x[:, 0] + x[:, 2] ** 2,
        }
    )


def settings(folder: Path, body: dict[str, Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model-settings.json").write_text(json.dumps(body))


def train(session: Any, root: Path) -> Trained:
    """Fit and save every model below ``root``; return them with 24 fresh rows to score."""
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import LogisticRegression, RandomForestClassifier
    from pyspark.ml.clustering import KMeans
    from pyspark.ml.feature import StringIndexer, VectorAssembler
    from pyspark.ml.regression import GBTRegressor
    from pyspark.mllib.regression import LabeledPoint
    from pyspark.mllib.tree import DecisionTree

    train_rows = session.createDataFrame(dataset(240, seed=1))
    assembled = VectorAssembler(inputCols=NUMBERS, outputCol="features").transform(train_rows)
    assembled.cache()

    pipeline = Pipeline(
        stages=[
            StringIndexer(inputCol="colour", outputCol="colour_index"),
            VectorAssembler(inputCols=[*NUMBERS, "colour_index"], outputCol="features"),
            LogisticRegression(maxIter=10),
        ]
    ).fit(train_rows)
    pipeline.save(str(root / "churn" / "model"))
    settings(root / "churn", {"name": "churn", "implementation": "mllib"})

    forest = RandomForestClassifier(numTrees=4, maxDepth=3, seed=3).fit(assembled)
    forest.save(str(root / "tiers" / "model"))
    settings(
        root / "tiers",
        {"name": "tiers", "implementation": "kernel_mllib.MLlibRuntime"},
    )

    kmeans = KMeans(k=3, maxIter=5, seed=5).fit(assembled)
    kmeans.save(str(root / "segments" / "saved"))
    settings(
        root / "segments",
        {"name": "segments", "implementation": "mllib", "parameters": {"uri": "saved"}},
    )

    gbt = GBTRegressor(labelCol="amount", maxIter=3, maxDepth=3, seed=2).fit(assembled)
    gbt.save(str(root / "spend" / "model"))
    settings(
        root / "spend",
        {
            "name": "spend",
            "implementation": "mllib",
            "parameters": {"version": "2", "extra": {"local_max_rows": 0}},
        },
    )

    points = assembled.select("label", "features").rdd.map(
        lambda row: LabeledPoint(row.label, row.features.toArray())
    )
    legacy = DecisionTree.trainClassifier(
        points, numClasses=3, categoricalFeaturesInfo={}, maxDepth=3
    )
    legacy.save(session.sparkContext, str(root / "legacy" / "model"))
    settings(
        root / "legacy",
        {
            "name": "legacy",
            "implementation": "mlserver_mllib.MLlibModel",
            "parameters": {"format": "DecisionTree"},
        },
    )
    assembled.unpersist()
    return Trained(root, dataset(24, seed=9), pipeline, forest, kmeans, gbt, legacy)


def transformed(session: Any, model: Any, frame: Any) -> Any:
    """Spark's own ``transform`` of ``frame`` (assembled into ``features`` for single
    models), collected as pandas with vectors as numpy arrays."""
    from pyspark.ml.feature import VectorAssembler
    from pyspark.ml.functions import vector_to_array
    from pyspark.ml.linalg import VectorUDT

    data = session.createDataFrame(frame)
    if not hasattr(model, "stages"):
        data = VectorAssembler(inputCols=NUMBERS, outputCol="features").transform(data)
    out = model.transform(data)
    columns = [
        vector_to_array(out[f.name]).alias(f.name) if isinstance(f.dataType, VectorUDT) else f.name
        for f in out.schema.fields
    ]
    return out.select(*columns).toPandas()


def stacked(series: Any) -> np.ndarray[Any, Any]:
    """A column of arrays as one [rows, k] matrix."""
    return np.stack([np.asarray(v) for v in series])
