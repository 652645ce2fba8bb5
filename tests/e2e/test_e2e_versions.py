"""Model versions in both layouts, and an MLServer model-settings.json loaded unchanged."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from e2e_server import ROWS, Server, serve, train_logistic, train_tree, write_model
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier

pytestmark = pytest.mark.e2e


@dataclass
class Versions:
    path: Path
    v2: LogisticRegression
    v10: DecisionTreeClassifier
    mlserver_old: LogisticRegression
    mlserver_new: DecisionTreeClassifier


def mlserver_settings(version: str) -> dict[str, Any]:
    """What MLServer users have: its class path, its own fields, a relative ``./`` uri."""
    return {
        "name": "flower",
        "implementation": "mlserver_sklearn.SKLearnModel",
        "parameters": {
            "uri": "./model.joblib",
            "version": version,
            "inference_pool_gid": "sklearn-pool",
        },
        "warm_workers": False,
        "cache_enabled": False,
        "parallel_workers": 0,
        "max_batch_size": 0,
        "max_batch_time": 0.0,
    }


@pytest.fixture(scope="module")
def versions(tmp_path_factory: pytest.TempPathFactory) -> Versions:
    root = tmp_path_factory.mktemp("versions")
    v2, v10 = train_logistic(c=0.05), train_tree()
    # Triton layout: numbered folders inherit the parent's settings; 10 is newer than 2.
    write_model(root / "iris", None, {"implementation": "sklearn"})
    write_model(root / "iris" / "2", v2)
    write_model(root / "iris" / "10", v10)
    # MLServer layout: separate folders, one name, different parameters.version.
    old, new = train_logistic(c=0.01), train_tree()
    write_model(root / "flower-v1", old, mlserver_settings("1"))
    write_model(root / "flower-v3", new, mlserver_settings("3"))
    return Versions(root, v2, v10, old, new)


@pytest.fixture(scope="module")
def server(versions: Versions, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serve(versions.path, tmp_path_factory.mktemp("logs")) as running:
        yield running


def infer(http: httpx.Client, path: str) -> tuple[str, np.ndarray[Any, Any]]:
    request = {
        "inputs": [{"name": "input-0", "shape": [4, 4], "datatype": "FP64", "data": ROWS.tolist()}],
        "outputs": [{"name": "predict_proba"}],
    }
    response = http.post(path, content=json.dumps(request))
    assert response.status_code == 200, response.text
    body = response.json()
    (output,) = body["outputs"]
    return body["model_version"], np.asarray(output["data"]).reshape(output["shape"])


@pytest.mark.parametrize(
    ("path", "version", "model"),
    [
        ("/v2/models/iris/infer", "10", "v10"),
        ("/v2/models/iris/versions/10/infer", "10", "v10"),
        ("/v2/models/iris/versions/2/infer", "2", "v2"),
        ("/v2/models/flower/infer", "3", "mlserver_new"),
        ("/v2/models/flower/versions/1/infer", "1", "mlserver_old"),
    ],
)
def test_version_routing(
    server: Server, versions: Versions, path: str, version: str, model: str
) -> None:
    with httpx.Client(base_url=server.http_url, timeout=30) as http:
        got_version, probabilities = infer(http, path)
    assert got_version == version
    np.testing.assert_allclose(probabilities, getattr(versions, model).predict_proba(ROWS))


def test_versions_in_metadata(server: Server) -> None:
    with httpx.Client(base_url=server.http_url, timeout=30) as http:
        iris = http.get("/v2/models/iris").json()
        flower = http.get("/v2/models/flower/versions/1").json()
        index = http.post("/v2/repository/index", content=b"{}").json()
    assert set(iris["versions"]) == {"2", "10"}
    assert set(flower["versions"]) == {"1", "3"}
    assert {(e["name"], e["version"], e["state"]) for e in index} == {
        ("iris", "2", "READY"),
        ("iris", "10", "READY"),
        ("flower", "1", "READY"),
        ("flower", "3", "READY"),
    }
