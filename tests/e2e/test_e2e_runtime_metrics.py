"""A runtime's own metrics through the real ``kernel serve --workers 2``: whichever process
answers ``/metrics`` reports the whole server, counters and histograms summed over the
processes and each gauge at the value set last, wherever it was set."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from e2e_server import serve
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.e2e

#: Counts rows, observes each value, sets a gauge to the request's last value, and answers
#: with its process id so the test sees both processes served.
RUNTIME = """
import os

import numpy as np

from kernel.runtime import Runtime
from protocol.messages import InferenceResponse, ResponseOutput


class Metered(Runtime):
    async def load(self):
        self.rows = self.metrics.counter("e2e_rows_total", "Rows seen.", labels=("source",))
        self.last = self.metrics.gauge("e2e_last_value", "Last value of the last request.")
        self.values = self.metrics.histogram("e2e_value", "Values.", buckets=(10.0, 100.0))

    async def predict(self, request):
        values = np.asarray(request.inputs[0].data, dtype=np.float64).reshape(-1)
        self.rows.inc(len(values), source="test")
        for v in values:
            self.values.observe(float(v))
        self.last.set(float(values[-1]))
        pid = np.array([os.getpid()], dtype=np.int64)
        return InferenceResponse(
            model_name=self.name, outputs=[ResponseOutput("pid", [1], "INT64", data=pid)]
        )
"""


def write_metered(folder: Path) -> None:
    folder.mkdir(parents=True)
    (folder / "models.py").write_text(RUNTIME)
    settings = {"name": "metered", "implementation": "models.Metered"}
    (folder / "model-settings.json").write_text(json.dumps(settings))


def key(name: str, **labels: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    """A sample's name and labels (the model's added), as ``scrape`` keys them."""
    return name, tuple(sorted({"model": "metered", "version": "", **labels}.items()))


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = httpx.get(f"{url}/metrics", timeout=10.0).text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_runtime_metrics_merge_over_server_processes(tmp_path: Path) -> None:
    write_metered(tmp_path / "models" / "metered")
    with serve(tmp_path / "models", tmp_path / "logs", workers=2) as server:
        pids: set[int] = set()
        sent = rows = 0
        total = 0.0
        # Fresh connections land on either process; go on until both have served.
        while sent < 6 or (len(pids) < 2 and sent < 200):
            values = [float(sent), float(sent) + 0.5, float(sent * 10)]
            body = {"inputs": [{"name": "v", "shape": [3], "datatype": "FP64", "data": values}]}
            answer = httpx.post(f"{server.http_url}/v2/models/metered/infer", json=body, timeout=30)
            assert answer.status_code == 200, answer.text
            pids.add(int(answer.json()["outputs"][0]["data"][0]))
            sent, rows, total = sent + 1, rows + 3, total + sum(values)
        assert len(pids) == 2, f"every request went to one process in {sent} tries"
        last = float((sent - 1) * 10)  # the gauge's value in the process that answered last
        small = sum(1 for i in range(sent) for v in (i, i + 0.5, i * 10) if v <= 10)
        for _ in range(6):  # whichever process answers, the same merged view
            got = scrape(server.http_url)
            assert got[key("kernel_runtime_e2e_rows_total", source="test")] == rows
            assert got[key("kernel_runtime_e2e_value_count")] == rows
            assert got[key("kernel_runtime_e2e_value_sum")] == pytest.approx(total)
            assert got[key("kernel_runtime_e2e_value_bucket", le="10")] == small
            assert got[key("kernel_runtime_e2e_last_value")] == last
            requests = key("kernel_infer_requests_total", protocol="rest", code="200")
            assert got[requests] == sent
