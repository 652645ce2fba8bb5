"""examples/alibi_detect as a user runs it: fit and save the detector with train.py, serve the
folder with the real ``kernel serve``, send request.json, and compare the answer with the saved
detector's own ``predict``. Skipped where alibi-detect (which pins numpy<2) is not installed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pytest
from example_server import EXAMPLES, serve

pytest.importorskip("alibi_detect")
pytest.importorskip("kernel_alibi_detect")

pytestmark = pytest.mark.e2e

EXAMPLE = EXAMPLES / "alibi_detect"


def test_example_end_to_end(tmp_path: Path) -> None:
    from alibi_detect.saving import load_detector

    models = tmp_path / "models"
    subprocess.run(
        [sys.executable, str(EXAMPLE / "train.py"), str(models / "sensor-drift")],
        check=True,
        capture_output=True,
    )
    body = (EXAMPLE / "request.json").read_bytes()
    tensor = json.loads(body)["inputs"][0]
    rows = np.asarray(tensor["data"], dtype=np.float32).reshape(tensor["shape"])
    with serve(models, tmp_path) as server:
        response = httpx.post(
            f"{server.http_url}/v2/models/sensor-drift/infer",
            content=body,
            headers={"Content-Type": "application/json"},
            timeout=60,
        )
        metadata = httpx.get(f"{server.http_url}/v2/models/sensor-drift", timeout=30).json()
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["id"] == "drift-example"
    assert answer["model_version"] == "1"
    assert answer["parameters"]["name"] == "KSDrift"
    outputs = {o["name"]: o for o in answer["outputs"]}
    assert list(outputs) == ["is_drift", "p_val", "threshold"]
    want = load_detector(models / "sensor-drift" / "detector").predict(rows)["data"]
    assert outputs["is_drift"]["data"] == [want["is_drift"]] == [1]
    np.testing.assert_allclose(outputs["p_val"]["data"], want["p_val"], rtol=1e-6)
    assert outputs["threshold"]["data"] == pytest.approx([want["threshold"]])
    assert metadata["inputs"][0]["parameters"]["detector"] == "KSDrift"
