"""The kserve SDK's V2 clients (REST and gRPC) against ``kernel serve``.

The SDK runs in a child process (``kserve_client.py``): it cannot share an interpreter with
tritonclient's gRPC module, which registers the same protobuf messages.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from e2e_server import ROWS, Repository, Server

pytestmark = pytest.mark.e2e

SCRIPT = Path(__file__).with_name("kserve_client.py")


@pytest.fixture(scope="module")
def got(server: Server) -> dict[str, Any]:
    done = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            server.http_url,
            server.grpc_address,
            json.dumps(ROWS.tolist()),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_health(got: dict[str, Any]) -> None:
    for key in ("live", "ready", "model_ready"):
        assert got[f"rest_{key}"] is True
        assert got[f"grpc_{key}"] is True


@pytest.mark.parametrize("case", ["rest_iris_json", "rest_iris_binary", "grpc_iris"])
def test_iris_matches_the_estimator(got: dict[str, Any], repository: Repository, case: str) -> None:
    outputs = got[case]
    assert outputs["predict"]["data"] == repository.iris.predict(ROWS).tolist()
    probabilities = np.asarray(outputs["predict_proba"]["data"]).reshape(
        outputs["predict_proba"]["shape"]
    )
    np.testing.assert_allclose(probabilities, repository.iris.predict_proba(ROWS))


def test_typed_contents_and_string_labels(got: dict[str, Any], repository: Repository) -> None:
    outputs = got["grpc_species"]
    assert outputs["predict"]["data"] == list(repository.species.predict(ROWS))
    probabilities = np.asarray(outputs["predict_proba"]["data"]).reshape(-1, 3)
    np.testing.assert_allclose(probabilities, repository.species.predict_proba(ROWS))
