"""``kernel batch``: score a dataset on Spark with any model kernel can serve.

The driver loads the model once to check it and learn its output columns (it scores the first
rows), then:

- for most runtimes, every Spark task loads the model through the plugin registry
  (``kernel.batch_scoring.Scorer``, once per Python worker) and scores its partition with
  ``mapInPandas``, each Arrow batch becoming one V2 request;
- a runtime whose models live in Spark itself (it has ``spark_transform``, as the ``mllib``
  runtime does) cannot be loaded inside a task, so its ``spark_transform`` adds the outputs to
  the distributed DataFrame on the driver.

The model folder is shipped to the executors with ``SparkContext.addFile``, so a cluster
needs only kernel and the model's plugin installed in the executors' Python. The output is a
Parquet dataset: the input's non-feature columns beside one column per model output. pyspark
is imported only here, and only when the command runs.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np

from kernel.batch_scoring import Scorer
from kernel.errors import KernelError, SettingsError

__all__ = ["BatchJob", "BatchResult", "run_batch"]

logger = logging.getLogger("kernel.batch")

INPUT_FORMATS: Final = ("auto", "parquet", "csv", "table")

#: Scorers already loaded in this Python worker, by (folder, features, outputs).
_WORKER_SCORERS: dict[tuple[str, tuple[str, ...], tuple[str, ...]], Scorer] = {}


@dataclass(frozen=True, slots=True)
class BatchJob:
    """What ``kernel batch`` was asked to do."""

    model_dir: str
    input: str
    output: str
    spark_master: str | None = None
    input_format: str = "auto"
    features: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    overwrite: bool = False
    conf: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class BatchResult:
    """Rows read and written, and the columns of the written dataset."""

    input_rows: int
    output_rows: int
    columns: list[str]


def _session(job: BatchJob) -> Any:
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName(f"kernel batch {Path(job.model_dir).name}")
    if job.spark_master:
        builder = builder.master(job.spark_master)
    # Python workers must run the Python that has kernel and the plugins installed.
    if "PYSPARK_PYTHON" not in os.environ and "spark.pyspark.python" not in job.conf:
        builder = builder.config("spark.pyspark.python", sys.executable)
    builder = builder.config("spark.sql.execution.arrow.pyspark.enabled", "true")
    for key, value in job.conf.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def read_input(session: Any, source: str, fmt: str) -> Any:
    """The input dataset: Parquet, CSV (with a header) or a table, ``auto`` by its name."""
    if fmt not in INPUT_FORMATS:
        raise SettingsError(f"input format {fmt!r}; use one of {', '.join(INPUT_FORMATS)}")
    if fmt == "auto":
        is_path = "://" in source or Path(source).exists()
        if not is_path:
            fmt = "table"
        elif source.rstrip("/").lower().endswith(".csv"):
            fmt = "csv"
        else:
            fmt = "parquet"
    if fmt == "table":
        return session.table(source)
    if fmt == "csv":
        return session.read.csv(source, header=True, inferSchema=True)
    return session.read.parquet(source)


def _spark_type(data: Any) -> Any:
    """The Spark type of one output column as the scorer builds it."""
    from pyspark.sql import types as T

    array = np.asarray(data[0]) if isinstance(data, list) else np.asarray(data)
    nested = isinstance(data, list)
    kind = array.dtype
    if kind.kind == "O":
        element: Any = T.StringType()
    elif kind == np.bool_:
        element = T.BooleanType()
    elif kind.kind == "f":
        element = T.FloatType() if kind.itemsize <= 4 else T.DoubleType()
    elif kind.kind in "iu":
        element = {1: T.ByteType(), 2: T.ShortType(), 4: T.IntegerType()}.get(
            kind.itemsize, T.LongType()
        )
    else:
        raise KernelError(f"an output of dtype {kind} cannot be written to Parquet")
    if nested:
        for _ in range(array.ndim):
            element = T.ArrayType(element)
    return element


def _scorer_for(model_dir: str, features: tuple[str, ...], outputs: tuple[str, ...]) -> Scorer:
    key = (model_dir, features, outputs)
    scorer = _WORKER_SCORERS.get(key)
    if scorer is None:
        scorer = _WORKER_SCORERS[key] = Scorer(model_dir, features, outputs)
    return scorer


def _partition_scorer(shipped: str, features: tuple[str, ...], outputs: tuple[str, ...]) -> Any:
    """The function ``mapInPandas`` runs in each task (pickled by value to the executors)."""

    def score(batches: Iterator[Any]) -> Iterator[Any]:
        from pyspark import SparkFiles

        scorer = _scorer_for(SparkFiles.get(shipped), features, outputs)
        for frame in batches:
            yield scorer.score(frame)

    return score


def _pandas_path(session: Any, frame: Any, job: BatchJob, scorer: Scorer) -> Any:
    from pyspark.sql import types as T

    features = scorer.feature_columns(frame.columns)
    sample = frame.limit(2).toPandas()
    if len(sample) == 0:
        raise SettingsError(f"the input {job.input!r} has no rows")
    from kernel.batch_scoring import output_columns

    scored = output_columns(scorer.predict(scorer.request(sample)), len(sample))
    kept = [f for f in frame.schema.fields if f.name not in features]
    clash = [name for name in scored if name in {f.name for f in kept}]
    if clash:
        raise SettingsError(
            f"the dataset already has column(s) {', '.join(clash)}, which the model writes"
        )
    schema = T.StructType(
        [*kept, *[T.StructField(n, _spark_type(v), True) for n, v in scored.items()]]
    )
    folder = str(Path(job.model_dir).resolve())
    session.sparkContext.addFile(folder, recursive=True)
    fn = _partition_scorer(Path(folder).name, tuple(features), job.outputs)
    return frame.mapInPandas(fn, schema=schema)


def run_batch(job: BatchJob) -> BatchResult:
    """Run one batch job; returns the row counts (equal unless the job went wrong)."""
    if not Path(job.model_dir).is_dir():
        raise SettingsError(f"model folder {job.model_dir!r} does not exist")
    session = _session(job)
    scorer = Scorer(job.model_dir, job.features, job.outputs)
    try:
        frame = read_input(session, job.input, job.input_format)
        transform = getattr(scorer.runtime, "spark_transform", None)
        if callable(transform):
            scored = transform(frame, list(job.features), list(job.outputs))
        else:
            scored = _pandas_path(session, frame, job, scorer)
        mode = "overwrite" if job.overwrite else "errorifexists"
        scored.write.mode(mode).parquet(job.output)
    finally:
        scorer.close()
    written = session.read.parquet(job.output)
    result = BatchResult(frame.count(), written.count(), list(written.columns))
    if result.input_rows != result.output_rows:
        raise KernelError(
            f"scored {result.output_rows} rows from {result.input_rows} input rows; the output"
            f" {job.output!r} is incomplete"
        )
    return result


def parse_conf(pairs: Sequence[str]) -> dict[str, str]:
    """``--conf key=value`` options as a map."""
    conf: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SettingsError(f"--conf {pair!r}: expected KEY=VALUE")
        conf[key.strip()] = value
    return conf
