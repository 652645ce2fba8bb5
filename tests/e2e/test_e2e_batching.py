"""Adaptive batching end to end: a real ``kernel serve``, many concurrent Triton clients over
REST and gRPC, and answers checked per caller.

``rows`` is a model (its own ``models.py``) that reports, in every output row, how many rows the
predict call that computed it held: a caller can tell from its answer whether it was merged.
``iris`` is the scikit-learn classifier with batching on, compared row by row with the same
estimator in-process.
"""

from __future__ import annotations

import functools
import json
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from e2e_server import ROWS, Server, serve, train_logistic, write_model
from sklearn.linear_model import LogisticRegression
from tritonclient.utils import InferenceServerException

pytestmark = pytest.mark.e2e

MODELS = '''
from __future__ import annotations

import time

import numpy as np

from kernel import BadRequest, Runtime
from protocol.messages import InferenceRequest, InferenceResponse, ResponseOutput


class Rows(Runtime):
    """``double`` = 2x, and ``batch_rows``: the rows of the predict call, once per row."""

    async def predict(self, request: InferenceRequest) -> InferenceResponse:
        x = request.inputs[0].data
        if np.isnan(x).any():
            raise BadRequest("input holds NaN")
        time.sleep(0.1)  # a predict that takes a while, so requests pile up behind it
        rows = np.full(x.shape[0], x.shape[0], dtype=np.int64)
        return InferenceResponse(
            model_name=self.name,
            outputs=[
                ResponseOutput("double", list(x.shape), "FP64", data=x * 2),
                ResponseOutput("batch_rows", [x.shape[0]], "INT64", data=rows),
            ],
        )
'''

MAX_BATCH = 8


@pytest.fixture(scope="module")
def estimator() -> LogisticRegression:
    return train_logistic()


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, estimator: LogisticRegression
) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("batching")
    (root / "rows").mkdir()
    (root / "rows" / "models.py").write_text(MODELS)
    settings = {"implementation": "models.Rows", "max_batch_size": MAX_BATCH}
    # A 2 s window: a lone request that waited on it would show in its latency.
    settings["max_batch_time"] = 2.0
    (root / "rows" / "model-settings.json").write_text(json.dumps(settings))
    write_model(
        root / "iris",
        estimator,
        {"implementation": "sklearn", "max_batch_size": 64, "max_batch_time": 0.01},
    )
    with serve(root, tmp_path_factory.mktemp("logs")) as running:
        yield running


def http_infer(server: Server, model: str, x: np.ndarray[Any, Any], outputs: list[str]) -> Any:
    client = httpclient.InferenceServerClient(url=server.http_address)
    try:
        tensor = httpclient.InferInput("input-0", list(x.shape), "FP64")
        tensor.set_data_from_numpy(x)
        wanted = [httpclient.InferRequestedOutput(n) for n in outputs]
        result = client.infer(model, [tensor], outputs=wanted)
        return {n: result.as_numpy(n) for n in outputs}, result.get_response()
    finally:
        client.close()


def grpc_infer(server: Server, model: str, x: np.ndarray[Any, Any], outputs: list[str]) -> Any:
    client = grpcclient.InferenceServerClient(url=server.grpc_address)
    try:
        tensor = grpcclient.InferInput("input-0", list(x.shape), "FP64")
        tensor.set_data_from_numpy(x)
        wanted = [grpcclient.InferRequestedOutput(n) for n in outputs]
        result = client.infer(model, [tensor], outputs=wanted)
        names = [o.name for o in result.get_response().outputs]
        return {n: result.as_numpy(n) for n in outputs}, names
    finally:
        client.close()


def together(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run every call at the same moment from its own thread; results or exceptions."""
    start = threading.Barrier(len(calls))

    def run(call: Callable[[], Any]) -> Any:
        start.wait()
        try:
            return call()
        except Exception as exc:
            return exc

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def rows_of(i: int) -> np.ndarray[Any, Any]:
    """1 to 3 rows of distinct values for caller ``i``."""
    n = 1 + i % 3
    return np.arange(n * 4, dtype=np.float64).reshape(n, 4) + 100 * i


def test_concurrent_clients_are_merged_and_each_gets_its_rows(server: Server) -> None:
    inputs = [rows_of(i) for i in range(16)]
    calls: list[Callable[[], Any]] = []
    for i, x in enumerate(inputs):
        infer = http_infer if i % 2 else grpc_infer
        calls.append(functools.partial(infer, server, "rows", x, ["double", "batch_rows"]))
    results = together(calls)
    merged = 0
    for x, result in zip(inputs, results, strict=True):
        assert not isinstance(result, Exception), result
        got, _ = result
        np.testing.assert_array_equal(got["double"], x * 2)
        batch_rows = got["batch_rows"]
        assert batch_rows.shape == (x.shape[0],)
        assert batch_rows[0] <= MAX_BATCH or batch_rows[0] == x.shape[0]
        merged += int(batch_rows[0] > x.shape[0])
    assert merged >= 2  # several callers were answered from one merged predict


def test_lone_request_does_not_wait_for_the_window(server: Server) -> None:
    x = rows_of(1)
    for _ in range(3):
        started = time.perf_counter()
        got, _ = http_infer(server, "rows", x, ["double", "batch_rows"])
        elapsed = time.perf_counter() - started
        assert elapsed < 1.5  # predict takes 0.1 s; the window is 2 s
        assert got["batch_rows"].tolist() == [2, 2]


def test_each_caller_gets_only_the_outputs_it_asked_for(
    server: Server, estimator: LogisticRegression
) -> None:
    wanted_by_caller = [
        ["predict"],
        ["predict_proba"],
        ["predict", "predict_proba"],
        ["decision_function"],
    ] * 4
    xs = [np.tile(ROWS, (1 + i % 3, 1)) for i in range(len(wanted_by_caller))]
    calls: list[Callable[[], Any]] = []
    for i, (x, wanted) in enumerate(zip(xs, wanted_by_caller, strict=True)):
        infer = http_infer if i % 2 else grpc_infer
        calls.append(functools.partial(infer, server, "iris", x, wanted))
    for x, wanted, result in zip(xs, wanted_by_caller, together(calls), strict=True):
        assert not isinstance(result, Exception), result
        got, response = result
        names = [o["name"] for o in response["outputs"]] if isinstance(response, dict) else response
        assert names == wanted
        for name in wanted:
            np.testing.assert_allclose(got[name], getattr(estimator, name)(x), rtol=1e-6)


def test_a_bad_request_among_concurrent_ones_fails_alone(
    server: Server, estimator: LogisticRegression
) -> None:
    bad = ROWS.copy()
    bad[2, 1] = np.nan
    xs = [bad if i == 5 else ROWS[: 1 + i % 4] for i in range(12)]
    calls: list[Callable[[], Any]] = [
        functools.partial(http_infer, server, "iris", x, ["predict"]) for x in xs
    ]
    results = together(calls)
    for i, (x, result) in enumerate(zip(xs, results, strict=True)):
        if i == 5:
            assert isinstance(result, InferenceServerException)
            assert "400" in str(result.status()) or "NaN" in str(result)
            continue
        assert not isinstance(result, Exception), result
        np.testing.assert_array_equal(result[0]["predict"], estimator.predict(x))


def test_a_bad_request_in_a_merged_batch_fails_alone(server: Server) -> None:
    xs = [rows_of(i) for i in range(12)]
    xs[4] = xs[4].copy()
    xs[4][0, 0] = np.nan
    calls: list[Callable[[], Any]] = [
        functools.partial(http_infer, server, "rows", x, ["double", "batch_rows"]) for x in xs
    ]
    results = together(calls)
    assert isinstance(results[4], InferenceServerException)
    assert "NaN" in str(results[4])
    answered = [r for i, r in enumerate(results) if i != 4]
    for x, result in zip([x for i, x in enumerate(xs) if i != 4], answered, strict=True):
        assert not isinstance(result, Exception), result
        np.testing.assert_array_equal(result[0]["double"], x * 2)


def test_config_reports_max_batch_size_and_dims_without_batch(server: Server) -> None:
    with httpx.Client(base_url=server.http_url) as client:
        config = client.get("/v2/models/iris/config").json()
    assert config["max_batch_size"] == 64
    assert config["input"][0]["dims"] == [4]
