"""The Spark MLlib runtime through a real ``kernel serve`` (its own JVM): a pipeline, a
RandomForest, a KMeans, a GBT regressor and a legacy ``pyspark.mllib`` tree trained here,
served over REST and gRPC with tritonclient and compared with Spark's own ``transform`` on the
same rows; then ``kernel batch`` on ``local[2]``, for a Spark pipeline (the command, as a user
runs it) and a scikit-learn model (``mapInPandas``), compared row by row with what the same
server answers."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from e2e_server import Server, kernel_command, serve, train_logistic, write_model

pytest.importorskip("pyspark")
pytest.importorskip("kernel_mllib")

# The plugin's training helpers, shared rather than copied (test folders are not packages).
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "plugins" / "mllib" / "tests"))
from mllib_support import NUMBERS, Trained, stacked, start_session, train, transformed

# Spark starts in tens of seconds and trains in more on a loaded machine: the first test
# carries the module's training and the server's start-up.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

IRIS = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    os.environ["PYSPARK_PYTHON"] = sys.executable
    session = start_session()
    yield session
    session.stop()


@pytest.fixture(scope="module")
def trained(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> Trained:
    trained = train(spark, tmp_path_factory.mktemp("mllib-models"))
    write_model(trained.root / "iris", train_logistic(), {"implementation": "sklearn"})
    return trained


@pytest.fixture(scope="module")
def server(trained: Trained, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    # The server starts its own JVM and loads five Spark models: within the helper's start-up
    # allowance (START_TIMEOUT), which is sized for that.
    with serve(trained.root, tmp_path_factory.mktemp("mllib-logs")) as running:
        yield running


def _colour(frame: Any) -> np.ndarray[Any, Any]:
    return np.asarray([c.encode() for c in frame["colour"]], dtype=object)


def expected(spark: Any, trained: Trained, model: str) -> dict[str, np.ndarray[Any, Any]]:
    fitted = {
        "churn": trained.pipeline,
        "tiers": trained.forest,
        "segments": trained.kmeans,
        "spend": trained.gbt,
    }
    if model == "legacy":
        return {"prediction": np.asarray([trained.legacy.predict(r) for r in trained.matrix])}
    out = transformed(spark, fitted[model], trained.frame)
    result = {"prediction": out["prediction"].to_numpy()}
    for name in ("probability", "rawPrediction"):
        if name in out:
            result[name] = stacked(out[name])
    return result


CASES = [
    ("churn", ["prediction", "probability", "rawPrediction"]),
    ("tiers", ["prediction", "probability", "rawPrediction"]),
    ("segments", ["prediction"]),
    ("spend", ["prediction"]),
    ("legacy", ["prediction"]),
]


def _inputs(client: Any, trained: Trained, model: str) -> list[Any]:
    """The request's inputs as ``client`` (``tritonclient.http`` or ``.grpc``) builds them."""
    if model == "churn":
        inputs = []
        for name in NUMBERS:
            inp = client.InferInput(name, [len(trained.frame)], "FP64")
            inp.set_data_from_numpy(trained.frame[name].to_numpy(dtype=np.float64))
            inputs.append(inp)
        colour = client.InferInput("colour", [len(trained.frame)], "BYTES")
        colour.set_data_from_numpy(_colour(trained.frame))
        return [*inputs, colour]
    inp = client.InferInput("input-0", list(trained.matrix.shape), "FP64")
    inp.set_data_from_numpy(trained.matrix)
    return [inp]


@pytest.mark.parametrize(("model", "outputs"), CASES)
def test_rest(spark: Any, trained: Trained, server: Server, model: str, outputs: list[str]) -> None:
    with httpclient.InferenceServerClient(url=server.http_address) as client:
        requested = [httpclient.InferRequestedOutput(n, binary_data=True) for n in outputs]
        result = client.infer(model, _inputs(httpclient, trained, model), outputs=requested)
    want = expected(spark, trained, model)
    for name in outputs:
        np.testing.assert_allclose(result.as_numpy(name), want[name], rtol=1e-12, err_msg=name)
    if model == "segments":
        assert result.as_numpy("prediction").dtype == np.int32


@pytest.mark.parametrize(("model", "outputs"), CASES)
def test_grpc(spark: Any, trained: Trained, server: Server, model: str, outputs: list[str]) -> None:
    client = grpcclient.InferenceServerClient(url=server.grpc_address)
    try:
        requested = [grpcclient.InferRequestedOutput(n) for n in outputs]
        result = client.infer(model, _inputs(grpcclient, trained, model), outputs=requested)
        meta = client.get_model_metadata(model, as_json=True)
    finally:
        client.close()
    want = expected(spark, trained, model)
    for name in outputs:
        np.testing.assert_allclose(result.as_numpy(name), want[name], rtol=1e-12, err_msg=name)
    assert meta["platform"] == "mllib"


def _served(server: Server, model: str, inputs: list[httpclient.InferInput], out: str) -> Any:
    with httpclient.InferenceServerClient(url=server.http_address) as client:
        result = client.infer(model, inputs, outputs=[httpclient.InferRequestedOutput(out)])
    return result.as_numpy(out)


def test_batch_command_spark_pipeline(trained: Trained, server: Server, tmp_path: Path) -> None:
    frame = trained.frame
    source = tmp_path / "customers.parquet"
    frame[["id", *NUMBERS, "colour"]].to_parquet(source)
    target = tmp_path / "scored"
    env = {k: v for k, v in os.environ.items() if not k.startswith("KERNEL_")}
    env["SPARK_LOCAL_IP"] = "127.0.0.1"
    command = [
        *kernel_command(),
        "batch",
        str(trained.root / "churn"),
        str(source),
        str(target),
        "--spark-master",
        "local[2]",
        "--outputs",
        "prediction,probability",
        "--conf",
        "spark.ui.enabled=false",
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=280)
    assert done.returncode == 0, done.stderr[-4000:]
    assert f"scored {len(frame)} rows" in done.stdout

    import pandas as pd

    scored = pd.read_parquet(target).sort_values("id").reset_index(drop=True)
    assert list(scored.columns) == ["id", "prediction", "probability"]
    assert len(scored) == len(frame)
    np.testing.assert_array_equal(scored["id"], frame["id"])
    inputs = _inputs(httpclient, trained, "churn")
    np.testing.assert_array_equal(
        scored["prediction"], _served(server, "churn", inputs, "prediction")
    )
    np.testing.assert_array_equal(
        stacked(scored["probability"]), _served(server, "churn", inputs, "probability")
    )


def test_batch_any_runtime_with_map_in_pandas(
    spark: Any, trained: Trained, server: Server, tmp_path: Path
) -> None:
    import pandas as pd

    from kernel.batch import BatchJob, run_batch

    rng = np.random.default_rng(11)
    rows = 500
    x = rng.uniform(0.1, 7.0, size=(rows, 4))
    frame = pd.DataFrame(x, columns=IRIS)
    frame.insert(0, "key", [f"k{i:04d}" for i in range(rows)])
    source = tmp_path / "flowers.csv"
    frame.to_csv(source, index=False)
    target = tmp_path / "flowers-scored"
    result = run_batch(
        BatchJob(
            str(trained.root / "iris"),
            str(source),
            str(target),
            spark_master="local[2]",
            features=tuple(IRIS),
            outputs=("predict", "predict_proba"),
        )
    )
    assert (result.input_rows, result.output_rows) == (rows, rows)
    scored = pd.read_parquet(target).sort_values("key").reset_index(drop=True)
    assert list(scored.columns) == ["key", "predict", "predict_proba"]
    inp = httpclient.InferInput("input-0", [rows, 4], "FP64")
    inp.set_data_from_numpy(x)
    np.testing.assert_array_equal(scored["predict"], _served(server, "iris", [inp], "predict"))
    np.testing.assert_allclose(
        stacked(scored["predict_proba"]), _served(server, "iris", [inp], "predict_proba"), 1e-12
    )
