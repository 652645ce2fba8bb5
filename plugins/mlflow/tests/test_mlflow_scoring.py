"""MLflow's scoring protocol on the kernel's REST server (``kernel_register_routes``): every
request format ``mlflow models serve`` takes, answered as it answers, compared with pyfunc."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import mlflow.pyfunc
import numpy as np
import pandas as pd
import pytest
from mlflow_support import Saved, rows

from kernel.testing import TestServer, serve_plugins

pytestmark = pytest.mark.anyio


def _settings(where: Any, **extra: Any) -> dict[str, Any]:
    return {"implementation": "mlflow", "parameters": {"uri": str(where), "extra": extra}}


@pytest.fixture
async def server(saved: Saved) -> AsyncIterator[TestServer]:
    models = {
        "iris": _settings(saved.iris, default_invocations=True),
        "scaler": _settings(saved.scaler),
        "echo": {"implementation": "echo"},
    }
    async with serve_plugins("mlflow", models=models) as running:
        yield running


async def _post(server: TestServer, path: str, body: Any, content_type: str) -> httpx.Response:
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    async with httpx.AsyncClient(base_url=server.http_url, timeout=30) as client:
        return await client.post(path, content=data, headers={"Content-Type": content_type})


async def test_every_request_format(server: TestServer, saved: Saved) -> None:
    sample = rows(saved.frame)
    expected = mlflow.pyfunc.load_model(str(saved.iris)).predict(sample).tolist()
    bodies: list[tuple[Any, str]] = [
        ({"dataframe_split": sample.to_dict(orient="split")}, "application/json"),
        ({"dataframe_records": sample.to_dict(orient="records")}, "application/json"),
        ({"instances": sample.to_dict(orient="records")}, "application/json"),
        ({"inputs": sample.to_dict(orient="list")}, "application/json; charset=utf-8"),
        (sample.to_csv(index=False), "text/csv"),
    ]
    for body, content_type in bodies:
        for path in ("/invocations", "/v2/models/iris/invocations"):
            answer = await _post(server, path, body, content_type)
            assert answer.status_code == 200, answer.text
            assert answer.json() == {"predictions": expected}


async def test_params_and_frame_predictions(server: TestServer, saved: Saved) -> None:
    x = pd.DataFrame({"x": [1.0, 2.0, 4.0]})
    body = {"dataframe_split": x.to_dict(orient="split"), "params": {"factor": 0.5, "prefix": "p"}}
    answer = await _post(server, "/v2/models/scaler/invocations", body, "application/json")
    expected = mlflow.pyfunc.load_model(str(saved.scaler)).predict(
        x, params={"factor": 0.5, "prefix": "p"}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"predictions": expected.to_dict(orient="records")}
    bad = {"dataframe_split": x.to_dict(orient="split"), "params": {"factor": [1, 2]}}
    refused = await _post(server, "/v2/models/scaler/invocations", bad, "application/json")
    assert refused.status_code == 400
    assert refused.json()["error_code"] == "BAD_REQUEST"
    assert "factor" in refused.json()["message"]


async def test_errors_in_mlflow_shape(server: TestServer, saved: Saved) -> None:
    missing = {"dataframe_records": [{"sepal_length": 5.0}]}
    answer = await _post(server, "/invocations", missing, "application/json")
    assert answer.status_code == 400
    assert "missing inputs" in answer.json()["message"]
    garbage = await _post(server, "/invocations", "{not json", "application/json")
    assert garbage.status_code == 400
    assert "valid JSON" in garbage.json()["message"]
    no_format = await _post(server, "/invocations", {"rows": []}, "application/json")
    assert no_format.status_code == 400
    assert "dataframe_split" in no_format.json()["message"]
    text = await _post(server, "/invocations", "1,2", "text/plain")
    assert text.status_code == 415
    assert "text/csv" in text.text
    latin = await _post(server, "/invocations", "{}", "application/json; charset=latin-1")
    assert latin.status_code == 415
    unknown = await _post(server, "/v2/models/nope/invocations", "{}", "application/json")
    assert (unknown.status_code, unknown.json()["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST")
    other = await _post(server, "/v2/models/echo/invocations", "{}", "application/json")
    assert other.status_code == 404
    assert "not an MLflow model" in other.json()["message"]


async def test_ping_and_version(server: TestServer) -> None:
    async with httpx.AsyncClient(base_url=server.http_url) as client:
        ping = await client.get("/ping")
        assert (ping.status_code, ping.text) == (200, "\n")
        assert (await client.get("/health")).status_code == 200
        version = await client.get("/version")
        assert version.text == mlflow.__version__


async def test_bare_invocations_needs_one_model(saved: Saved) -> None:
    models = {"a": _settings(saved.iris), "b": _settings(saved.iris)}
    sample = rows(saved.frame)
    body = {"dataframe_split": sample.to_dict(orient="split")}
    async with serve_plugins("mlflow", models=models) as server:
        answer = await _post(server, "/invocations", body, "application/json")
        assert answer.status_code == 400
        assert "2 are loaded (a, b)" in answer.json()["message"]
        assert "default_invocations" in answer.json()["message"]
        await server.kernel.unload_model("b")
        answer = await _post(server, "/invocations", body, "application/json")
        assert answer.status_code == 200
        assert np.array_equal(answer.json()["predictions"], saved.estimator.predict(sample))
