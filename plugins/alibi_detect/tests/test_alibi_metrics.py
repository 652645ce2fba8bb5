"""Prometheus metrics for what detectors find, per model, scraped from a real kernel's
``/metrics`` beside its request metrics."""

from __future__ import annotations

import http.client
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest
from alibi_support import same, shifted, write_settings

import kernel_alibi_detect
from kernel.testing import TestServerSync, serve_plugins_sync

P = "kernel_runtime_alibi_detect_"


@pytest.fixture(scope="module")
def server(saved: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestServerSync]:
    root = tmp_path_factory.mktemp("metrics-repo")
    for model, source, extra in (
        ("m-batch", "ks", {}),
        ("m-window", "ks", {"window_size": 50}),
        ("m-online", "online", {"seed": 7}),
    ):
        shutil.copytree(saved / source, root / model)
        write_settings(
            root / model,
            {
                "name": model,
                "implementation": "alibi-detect",
                "parameters": {"uri": "detector", "extra": extra},
            },
        )
    with serve_plugins_sync(kernel_alibi_detect, repository=root) as running:
        yield running


def scrape(server: TestServerSync) -> dict[str, float]:
    """``{'name{labels}': value}`` of the alibi-detect series."""
    url = urlsplit(server.http_url)
    connection = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=10)
    try:
        connection.request("GET", "/metrics")
        text = connection.getresponse().read().decode()
    finally:
        connection.close()
    samples = {}
    for line in text.splitlines():
        if line.startswith(P):
            series, value = line.rsplit(" ", 1)
            samples[series] = float(value)
    return samples


def test_batch_tests_drift_and_p_values(server: TestServerSync) -> None:
    labels = 'model="m-batch",version=""'
    server.infer_rest("m-batch", {"x": same()})
    out = server.infer_grpc("m-batch", {"x": shifted()})
    got = scrape(server)
    assert got[f"{P}instances_total{{{labels}}}"] == 400
    assert got[f"{P}tests_total{{{labels}}}"] == 2
    assert got[f"{P}drift_detected_total{{{labels}}}"] == 1
    assert got[f"{P}drift{{{labels}}}"] == 1
    for feature in range(3):
        assert got[f'{P}p_value{{{labels},feature="{feature}"}}'] == pytest.approx(
            float(out["p_val"][feature])
        )
        assert got[f'{P}distance{{{labels},feature="{feature}"}}'] == pytest.approx(
            float(out["distance"][feature])
        )


def test_windows_count_tests_not_requests(server: TestServerSync) -> None:
    labels = 'model="m-window",version=""'
    for _ in range(7):
        server.infer_rest("m-window", {"x": shifted(n=20)})
    got = scrape(server)
    assert got[f"{P}instances_total{{{labels}}}"] == 140
    assert got[f"{P}tests_total{{{labels}}}"] == 2  # 140 instances: two windows of 50
    assert got[f"{P}drift_detected_total{{{labels}}}"] == 2
    assert got[f"{P}window_count{{{labels}}}"] == 40


def test_online_updates_are_tests(server: TestServerSync) -> None:
    labels = 'model="m-online",version=""'
    # binary: thresholds and test statistics are NaN until the detector's window fills,
    # which binary data keeps exact (JSON writes null)
    rows = np.vstack([same(n=30), shifted(n=30)])
    out = server.infer_rest("m-online", {"x": rows}, binary=True)
    got = scrape(server)
    assert got[f"{P}instances_total{{{labels}}}"] == 60
    assert got[f"{P}tests_total{{{labels}}}"] == 60
    assert got[f"{P}drift_detected_total{{{labels}}}"] == int(out["is_drift"].sum()) > 0
    assert got[f"{P}drift{{{labels}}}"] == float(out["is_drift"][-1])
