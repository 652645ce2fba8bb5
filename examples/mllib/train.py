"""Train the example Spark pipeline and save it as a kernel model folder.

    SPARK_LOCAL_IP=127.0.0.1 python examples/mllib/train.py examples/models/churn

fits a ``PipelineModel`` (``StringIndexer`` on the plan, ``VectorAssembler``,
``LogisticRegression``) on synthetic customer rows, saves it with ``.save(folder/model)``,
copies this example's ``model-settings.json`` when the folder has none, and writes
``customers.csv`` beside it for ``kernel batch``. It then prints what the model answers to
``request.json``, so a served answer can be checked by eye. Nothing trained is committed.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
PLANS = ["basic", "plus", "premium"]


def customers(rows: int, seed: int) -> Any:
    """Synthetic customers: tenure, monthly spend, support calls, plan and whether they left."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    tenure = rng.integers(1, 72, size=rows).astype(np.float64)
    spend = rng.uniform(10, 120, size=rows)
    calls = rng.poisson(1.5, size=rows).astype(np.float64)
    plan = rng.choice(PLANS, size=rows)
    risk = 0.8 * calls - 0.05 * tenure + 0.01 * spend + (plan == "basic") * 0.7
    return pd.DataFrame(
        {
            "customer_id": np.arange(rows, dtype=np.int64),
            "tenure": tenure,
            "spend": spend,
            "calls": calls,
            "plan": plan.astype(object),
            "churned": (risk + rng.normal(scale=0.5, size=rows) > 0.5).astype(np.float64),
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="Train the example Spark churn pipeline.")
    parser.add_argument("folder", type=Path, help="model folder to write: examples/models/churn")
    folder: Path = parser.parse_args().folder
    folder.mkdir(parents=True, exist_ok=True)

    from pyspark.ml import Pipeline
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.feature import StringIndexer, VectorAssembler
    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master("local[2]")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .getOrCreate()
    )
    try:
        pipeline = Pipeline(
            stages=[
                StringIndexer(inputCol="plan", outputCol="plan_index"),
                VectorAssembler(
                    inputCols=["tenure", "spend", "calls", "plan_index"], outputCol="features"
                ),
                LogisticRegression(labelCol="churned", maxIter=20),
            ]
        ).fit(spark.createDataFrame(customers(500, seed=1)))
        pipeline.write().overwrite().save(str(folder / "model"))
        if not (folder / "model-settings.json").exists():
            shutil.copy(HERE / "model-settings.json", folder / "model-settings.json")
        customers(200, seed=2).drop(columns="churned").to_csv(folder / "customers.csv", index=False)

        request = json.loads((HERE / "request.json").read_text())
        columns = {i["name"]: i["data"] for i in request["inputs"]}
        rows = spark.createDataFrame(
            [
                dict(zip(columns, values, strict=True))
                for values in zip(*columns.values(), strict=True)
            ]
        )
        answer = pipeline.transform(rows).select("prediction", "probability").collect()
        print(f"saved {folder / 'model'}")
        for row in answer:
            print(
                f"prediction {row.prediction:.0f}  probability {row.probability.toArray().round(4)}"
            )
    finally:
        spark.stop()


if __name__ == "__main__":
    main()
