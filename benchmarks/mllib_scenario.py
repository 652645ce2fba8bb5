"""The Spark MLlib scenario: iris served by Spark models, through both of the runtime's paths.

    SPARK_LOCAL_IP=127.0.0.1 /work/venv/bin/python benchmarks/mllib_scenario.py [--seconds 3]

prints, for 1 and 1000 rows, the wall-clock milliseconds (median) of ``MLlibRuntime.predict``
on a decoded request (``prediction`` and ``probability``) next to Spark's own calls for the
same answer:

- the **local** path: a single ``RandomForestClassificationModel``, whose ``predict`` and
  ``predictProbability`` take one vector each (one JVM call per row, no Spark job); Spark's own
  figure is those calls in a loop;
- the **DataFrame** path: the same forest with ``local_max_rows`` 0, and a ``PipelineModel``
  (``VectorAssembler`` + ``LogisticRegression``) reading four named columns: a DataFrame built
  through Arrow, ``transform``, and ``toPandas``; Spark's own figure is
  ``createDataFrame(pandas)`` + ``transform`` + ``toPandas``.

Wall time, not CPU: the work happens in the JVM, which this process's CPU clock does not see.
``write_model_repository`` writes the repository both paths are timed on (``iris``, the forest,
with its outputs declared, and ``iris-pipeline``); it can be served as it is by ``kernel serve``.
This is not a ``run.py`` scenario: a Spark job per request costs hundreds of milliseconds, so
the question here is which path a request takes and what Spark itself costs on it, not the
transport's overhead (see "Runtimes side by side" in benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import numpy as np

MODEL = "iris"
OUTPUTS = ("prediction", "probability")
COLUMNS = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def _session() -> Any:
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from pyspark.sql import SparkSession

    return (
        SparkSession.builder.master("local[2]")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.sql.shuffle.partitions", "2")
        .getOrCreate()
    )


def iris_rows(rows: int) -> np.ndarray[Any, Any]:
    """``rows`` iris rows, cycling through the data set (as ``wire.iris_rows``)."""
    from sklearn.datasets import load_iris

    data = np.asarray(load_iris().data, dtype=np.float64)
    return np.ascontiguousarray(data[np.arange(rows) % data.shape[0]])


def write_model_repository(root: Path) -> Path:
    """Train the iris forest into ``root/iris/model`` and the pipeline into
    ``root/iris-pipeline/model``, each with its ``model-settings.json``."""
    import pandas as pd
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import LogisticRegression, RandomForestClassifier
    from pyspark.ml.feature import VectorAssembler
    from sklearn.datasets import load_iris

    spark = _session()
    x, y = load_iris(return_X_y=True)
    frame = spark.createDataFrame(pd.DataFrame(x, columns=COLUMNS).assign(label=y.astype(float)))
    assembler = VectorAssembler(inputCols=COLUMNS, outputCol="features")
    forest = RandomForestClassifier(numTrees=20, maxDepth=5, seed=0).fit(assembler.transform(frame))
    forest.write().overwrite().save(str(root / MODEL / "model"))
    settings = {
        "name": MODEL,
        "implementation": "mllib",
        "outputs": [
            {"name": "prediction", "datatype": "FP64", "shape": [-1]},
            {"name": "probability", "datatype": "FP64", "shape": [-1, 3]},
        ],
    }
    (root / MODEL / "model-settings.json").write_text(json.dumps(settings, indent=2))
    pipeline = Pipeline(stages=[assembler, LogisticRegression(maxIter=50)]).fit(frame)
    pipeline.write().overwrite().save(str(root / "iris-pipeline" / "model"))
    settings = {"name": "iris-pipeline", "implementation": "mllib"}
    (root / "iris-pipeline" / "model-settings.json").write_text(json.dumps(settings))
    return root / MODEL / "model"


def _wall_ms(once: Callable[[], object], seconds: float) -> float:
    for _ in range(3):
        once()
    times: list[float] = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(times) < 5:
        start = time.perf_counter()
        once()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def _runtime(folder: Path, **extra: Any) -> Any:
    from kernel import ModelParameters, ModelSettings
    from kernel_mllib import MLlibRuntime

    settings = ModelSettings(
        name=folder.name,
        implementation="mllib",
        path=str(folder),
        parameters=ModelParameters(extra=extra),
    )
    runtime = MLlibRuntime(settings)
    asyncio.run(runtime.load())
    return runtime


def runtime_ms(folder: Path, rows: int, seconds: float, named: bool, **extra: Any) -> float:
    """Wall ms of ``MLlibRuntime.predict`` for one decoded request of ``rows``."""
    from protocol.messages import InferenceRequest, RequestOutput
    from protocol.tensors import input_from_numpy

    runtime = _runtime(folder, **extra)
    x = iris_rows(rows)
    inputs = (
        [input_from_numpy(c, np.ascontiguousarray(x[:, i])) for i, c in enumerate(COLUMNS)]
        if named
        else [input_from_numpy("input-0", x)]
    )
    request = InferenceRequest(
        inputs=inputs, outputs=[RequestOutput(name=name) for name in OUTPUTS]
    )
    loop = asyncio.new_event_loop()
    try:
        return _wall_ms(lambda: loop.run_until_complete(runtime.predict(request)), seconds)
    finally:
        loop.close()
        asyncio.run(runtime.unload())


def spark_local_ms(model_path: Path, rows: int, seconds: float) -> float:
    """Wall ms of the forest's own ``predict`` + ``predictProbability``, row by row."""
    from pyspark.ml.classification import RandomForestClassificationModel
    from pyspark.ml.linalg import Vectors

    model = RandomForestClassificationModel.load(str(model_path))
    x = iris_rows(rows)

    def once() -> None:
        for row in x:
            vector = Vectors.dense(row)
            model.predict(vector)
            model.predictProbability(vector)

    return _wall_ms(once, seconds)


def spark_frame_ms(model_path: Path, rows: int, seconds: float, pipeline: bool) -> float:
    """Wall ms of Spark's own DataFrame round trip: pandas in, transform, pandas out."""
    import pandas as pd
    from pyspark.ml import PipelineModel
    from pyspark.ml.classification import RandomForestClassificationModel
    from pyspark.ml.functions import array_to_vector, vector_to_array

    spark = _session()
    x = iris_rows(rows)
    if pipeline:
        model: Any = PipelineModel.load(str(model_path))
        pdf = pd.DataFrame(x, columns=COLUMNS)
    else:
        model = RandomForestClassificationModel.load(str(model_path))
        pdf = pd.DataFrame({"features": list(x)})

    def once() -> None:
        frame = spark.createDataFrame(pdf)
        if not pipeline:
            frame = frame.withColumn("features", array_to_vector(frame["features"]))
        out = model.transform(frame)
        out.select("prediction", vector_to_array(out["probability"]).alias("p")).toPandas()

    return _wall_ms(once, seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description="Spark MLlib in-process predict times")
    parser.add_argument("--seconds", type=float, default=3.0, help="measured seconds per cell")
    seconds = parser.parse_args().seconds
    spark = _session()
    with TemporaryDirectory(prefix="kernel-mllib-bench-") as tmp:
        root = Path(tmp)
        forest = write_model_repository(root)
        pipeline = root / "iris-pipeline"
        print("| rows | path | Spark's own calls, ms wall | MLlibRuntime.predict, ms wall |")
        print("|---:|---|---:|---:|")
        for rows in (1, 1000):
            own = spark_local_ms(forest, rows, seconds)
            served = runtime_ms(forest.parent, rows, seconds, False, local_max_rows=1000)
            print(f"| {rows} | local (forest) | {own:.2f} | {served:.2f} |")
            own = spark_frame_ms(forest, rows, seconds, pipeline=False)
            served = runtime_ms(forest.parent, rows, seconds, False, local_max_rows=0)
            print(f"| {rows} | DataFrame (forest) | {own:.2f} | {served:.2f} |")
            own = spark_frame_ms(pipeline / "model", rows, seconds, pipeline=True)
            served = runtime_ms(pipeline, rows, seconds, True)
            print(f"| {rows} | DataFrame (pipeline) | {own:.2f} | {served:.2f} |")
    spark.stop()


if __name__ == "__main__":
    main()
