"""A model in its own Python environment: a virtualenv with numpy 1.26 (as Alibi-Detect
needs) served beside a model on this environment's numpy 2, by one real ``kernel serve``.

The test builds the virtualenv with uv: numpy==1.26.4, kernel (this checkout, editable) and a
tiny plugin package whose runtime reports the numpy version of the process it runs in.
"""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from worker_models import probe_model

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))
from server_process import Server, serve
from venvs import build_venv

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

REPO = Path(__file__).parents[2]
OLD_NUMPY = "1.26.4"

PLUGIN = '''
"""A runtime that answers the numpy version of the process it runs in."""

import os

import numpy as np

from kernel import InferenceRequest, InferenceResponse, Runtime, hookimpl, output_from_numpy


class NumpyVersion(Runtime):
    async def predict(self, request: InferenceRequest) -> InferenceResponse:
        x = np.asarray(request.inputs[0].data)
        return InferenceResponse(
            model_name=self.name,
            outputs=[
                output_from_numpy("numpy", np.array([np.__version__.encode()], dtype=object)),
                output_from_numpy("pid", np.array([os.getpid()], dtype=np.int64)),
                output_from_numpy("doubled", x * 2),
            ],
        )


@hookimpl
def kernel_register_runtimes(register):
    register("numpy-version", NumpyVersion)
'''

PYPROJECT = """
[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "kernel-numpy-version"
version = "0.0.1"

[project.entry-points."kernel.plugins"]
numpy-version = "kernel_numpy_version"

[tool.hatch.build.targets.wheel]
packages = ["kernel_numpy_version"]
"""


def build_old_numpy_env(root: Path) -> Path:
    """A virtualenv with numpy 1.26, kernel and the test plugin; its folder."""
    plugin = root / "plugin"
    (plugin / "kernel_numpy_version").mkdir(parents=True)
    (plugin / "pyproject.toml").write_text(PYPROJECT)
    (plugin / "kernel_numpy_version" / "__init__.py").write_text(textwrap.dedent(PLUGIN))
    return build_venv(root / "venv-numpy1", f"numpy=={OLD_NUMPY}", "-e", REPO, plugin)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("environments")
    env = build_old_numpy_env(root)
    models = root / "models"
    models.mkdir()
    old = models / "detector"
    old.mkdir()
    (old / "model-settings.json").write_text(
        '{"name": "detector", "implementation": "numpy-version",'
        f' "parameters": {{"environment_path": "{env}"}}}}'
    )
    probe_model(models, "current", parallel_workers=1)
    with serve(models, root / "logs") as running:
        yield running


def infer(server: Server, model: str, data: list[float]) -> dict[str, list[object]]:
    body = {"inputs": [{"name": "x", "shape": [len(data)], "datatype": "FP64", "data": data}]}
    response = httpx.post(f"{server.http_url}/v2/models/{model}/infer", json=body, timeout=30)
    assert response.status_code == 200, response.text
    return {o["name"]: o["data"] for o in response.json()["outputs"]}


def test_numpy_1_model_beside_numpy_2_model(server: Server) -> None:
    old = infer(server, "detector", [1.0, 2.5])
    current = infer(server, "current", [1.0, 2.5])
    assert old["numpy"] == [OLD_NUMPY]
    assert old["doubled"] == [2.0, 5.0]
    assert current["numpy"] == [np.__version__]
    assert np.__version__.startswith("2.")
    assert current["y"] == [1.0, 2.5]
    # Each ran in its own worker process, not in the server.
    assert old["pid"] != current["pid"]
    assert server.process.pid not in (old["pid"][0], current["pid"][0])


def test_metadata_comes_from_the_worker(server: Server) -> None:
    response = httpx.get(f"{server.http_url}/v2/models/detector", timeout=10)
    assert response.status_code == 200, response.text
    assert response.json()["platform"] == "numpy-version"


def test_client_timeout_over_rest_is_a_504(server: Server) -> None:
    body = {
        "inputs": [{"name": "x", "shape": [1], "datatype": "FP64", "data": [1.0]}],
        "parameters": {"sleep": 30, "timeout": 300_000},
    }
    response = httpx.post(f"{server.http_url}/v2/models/current/infer", json=body, timeout=30)
    assert response.status_code == 504, response.text
    assert "deadline" in response.json()["error"]
    # The wedged worker was killed and replaced: the model answers again.
    assert infer(server, "current", [3.0])["y"] == [3.0]
    # Metrics label the timed-out request with the status its caller saw.
    metrics = httpx.get(f"{server.http_url}/metrics", timeout=10).text
    assert any(
        line.startswith("kernel_infer_requests_total{")
        and 'model="current"' in line
        and 'code="504"' in line
        for line in metrics.splitlines()
    ), metrics
