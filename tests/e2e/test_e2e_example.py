"""The repository's example, as a user runs it: train with examples/sklearn/train.py, serve
the examples model repository, send the example request."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import joblib
import numpy as np
import pytest
from e2e_server import serve

pytestmark = pytest.mark.e2e

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_example_end_to_end(tmp_path: Path) -> None:
    models = tmp_path / "models"
    shutil.copytree(EXAMPLES / "models", models)
    subprocess.run(
        [sys.executable, str(EXAMPLES / "sklearn" / "train.py"), str(models / "iris")],
        check=True,
        capture_output=True,
    )
    model = joblib.load(models / "iris" / "model.joblib")
    request = json.loads((EXAMPLES / "sklearn" / "request.json").read_text())
    rows = np.asarray(request["inputs"][0]["data"], dtype=np.float64)

    with serve(models, tmp_path / "logs") as server:
        response = httpx.post(
            f"{server.http_url}/v2/models/iris/infer",
            content=(EXAMPLES / "sklearn" / "request.json").read_bytes(),
            headers={"Content-Type": "application/json"},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["model_name"] == "iris"
        assert body["id"] == request["id"]
        outputs = {o["name"]: o for o in body["outputs"]}
        assert outputs["predict"]["datatype"] == "BYTES"
        assert outputs["predict"]["data"] == list(model.predict(rows))
        assert outputs["predict"]["data"] == ["setosa", "versicolor", "virginica"]
        probabilities = np.asarray(outputs["predict_proba"]["data"]).reshape(
            outputs["predict_proba"]["shape"]
        )
        np.testing.assert_allclose(probabilities, model.predict_proba(rows))
        # SIGTERM: a graceful stop that exits 0.
        assert server.stop() == 0
