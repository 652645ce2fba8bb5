"""A runtime's own metrics in the server's ``GET /metrics``: a real kernel with a runtime that
publishes what it finds, behind the real REST app (in process, through httpx's ASGI transport),
across a reload to a new version and an unload."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from kernel import Runtime, hookimpl
from kernel.hookspecs import RegisterRuntime
from kernel.lifecycle import Kernel
from kernel.rest.app import build_app
from kernel.settings import ServerSettings
from protocol.messages import InferenceRequest, InferenceResponse, ResponseOutput

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Detector(Runtime):
    """Tests each request's values: drift when the smallest is below 0.05 (a p-value)."""

    async def load(self) -> None:
        metrics = self.metrics
        self.drift = metrics.counter("scrape_drift_total", "Requests found drifting.")
        self.rows = metrics.counter("scrape_rows_total", "Rows tested.", labels=("outcome",))
        self.p_value = metrics.gauge("scrape_p_value", "Smallest p-value of the last request.")
        self.scores = metrics.histogram("scrape_score", "Every p-value.", buckets=(0.05, 0.5))

    async def predict(self, request: InferenceRequest) -> InferenceResponse:
        values = np.asarray(request.inputs[0].data, dtype=np.float64).reshape(-1)
        p = float(values.min())
        drifting = p < 0.05
        if drifting:
            self.drift.inc()
        self.rows.inc(len(values), outcome="drift" if drifting else "none")
        self.p_value.set(p)
        for v in values:
            self.scores.observe(float(v))
        out = np.array([drifting])
        return InferenceResponse(
            model_name=self.name, outputs=[ResponseOutput("is_drift", [1], "BOOL", data=out)]
        )


class DetectorPlugin:
    @hookimpl
    def kernel_register_runtimes(self, register: RegisterRuntime) -> None:
        register("scrape-detector", Detector)


def write_version(root: Path, version: str) -> None:
    folder = root / "cd" / version
    folder.mkdir(parents=True)
    settings = {
        "name": "cd",
        "implementation": "scrape-detector",
        "parameters": {"version": version},
    }
    (folder / "model-settings.json").write_text(json.dumps(settings))


def body(*values: float) -> dict[str, Any]:
    return {"inputs": [{"name": "p", "shape": [len(values)], "datatype": "FP64", "data": values}]}


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample by name and labels, parsed as Prometheus parses the exposition."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def kinds(text: str) -> dict[str, str]:
    return {f.name: f.type for f in text_string_to_metric_families(text)}


def key(name: str, **labels: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    return name, tuple(sorted(labels.items()))


async def test_runtime_metrics_are_scraped_beside_the_kernels(tmp_path: Path) -> None:
    write_version(tmp_path, "1")
    settings = ServerSettings(model_repository_root=str(tmp_path), executor_threads=4)
    kernel = Kernel(settings, plugins=[("detector", DetectorPlugin())], autoload=False, environ={})
    async with kernel:
        app = build_app(kernel, kernel, settings)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://kernel") as http:
            for values in ((0.2, 0.9), (0.01, 0.3, 0.6), (0.5,)):
                answer = await http.post("/v2/models/cd/infer", json=body(*values))
                assert answer.status_code == 200, answer.text
            scrape = await http.get("/metrics")
            assert scrape.status_code == 200
            text = scrape.text
            got, types = samples(text), kinds(text)
            v1 = {"model": "cd", "version": "1"}
            assert types["kernel_runtime_scrape_drift"] == "counter"
            assert types["kernel_runtime_scrape_p_value"] == "gauge"
            assert types["kernel_runtime_scrape_score"] == "histogram"
            assert got[key("kernel_runtime_scrape_drift_total", **v1)] == 1
            assert got[key("kernel_runtime_scrape_rows_total", **v1, outcome="none")] == 3
            assert got[key("kernel_runtime_scrape_rows_total", **v1, outcome="drift")] == 3
            assert got[key("kernel_runtime_scrape_p_value", **v1)] == 0.5
            assert got[key("kernel_runtime_scrape_score_bucket", **v1, le="0.05")] == 1
            assert got[key("kernel_runtime_scrape_score_bucket", **v1, le="0.5")] == 4
            assert got[key("kernel_runtime_scrape_score_count", **v1)] == 6
            # The kernel's own metrics are all still there, unchanged.
            assert types["kernel_infer_requests"] == "counter"
            assert types["kernel_model_state"] == "gauge"
            requests = key("kernel_infer_requests_total", **v1, protocol="rest", code="200")
            assert got[requests] == 3
            assert "# HELP kernel_runtime_scrape_drift_total Requests found drifting." in text

            # A new version replaces version 1: its series appear, version 1's stay.
            write_version(tmp_path, "2")
            shutil.rmtree(tmp_path / "cd" / "1")
            assert (await http.post("/v2/repository/models/cd/load")).status_code == 200
            answer = await http.post("/v2/models/cd/infer", json=body(0.001))
            assert answer.status_code == 200, answer.text
            got = samples((await http.get("/metrics")).text)
            v2 = {"model": "cd", "version": "2"}
            assert got[key("kernel_runtime_scrape_drift_total", **v2)] == 1
            assert got[key("kernel_runtime_scrape_p_value", **v2)] == 0.001
            assert got[key("kernel_runtime_scrape_drift_total", **v1)] == 1
            assert key("kernel_model_state", **v1, state="READY") not in got

            # Unloaded, the model's series are kept (counters never go back while the
            # process lives; a later load of the same version counts on).
            assert (await http.post("/v2/repository/models/cd/unload")).status_code == 200
            got = samples((await http.get("/metrics")).text)
            assert got[key("kernel_runtime_scrape_drift_total", **v2)] == 1
            assert got[key("kernel_runtime_scrape_p_value", **v2)] == 0.001
            assert (await http.post("/v2/repository/models/cd/load")).status_code == 200
            assert (await http.post("/v2/models/cd/infer", json=body(0.02))).status_code == 200
            got = samples((await http.get("/metrics")).text)
            assert got[key("kernel_runtime_scrape_drift_total", **v2)] == 2
