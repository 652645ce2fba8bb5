"""An Alibi-Detect detector (numpy < 2) served beside a scikit-learn model on numpy 2 by ONE
``kernel serve``, through ``parameters.environment_path``, with two real virtualenvs.

This test runs in the alibi-detect environment (numpy 1.26, alibi-detect, kernel and its
plugin installed): that interpreter's ``sys.prefix`` is the detector's ``environment_path``.
The test builds, with uv (its cache makes a rebuild take seconds), a second virtualenv with
numpy 2, kernel (this checkout, editable) and the scikit-learn plugin, and runs ``kernel serve``
from it: the scikit-learn model is served in the server's own process (numpy 2), the KSDrift
detector in a worker process started with the alibi-detect environment's interpreter.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from e2e_server import ROWS, Server, serve, train_logistic, write_model

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))
from venvs import build_venv

pytest.importorskip("alibi_detect")
pytest.importorskip("kernel_alibi_detect")
httpclient = pytest.importorskip("tritonclient.http")

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

REPO = Path(__file__).parents[2]
Array = np.ndarray[Any, Any]


def _rows(seed: int, n: int, shift: float = 0.0) -> Array:
    return np.random.default_rng(seed).normal(size=(n, 3)).astype(np.float32) + np.float32(shift)


X_REF = _rows(12, 400)
SAME = _rows(4, 200)
SHIFTED = _rows(2, 200, 1.0)


def build_numpy2_env(root: Path) -> Path:
    """A virtualenv with numpy 2, kernel (editable) and the scikit-learn plugin; its folder.

    scikit-learn is pinned to this environment's version, so the model pickled here loads
    there unchanged (and uv reuses the wheel it already has)."""
    import sklearn

    return build_venv(
        root / "venv-numpy2",
        "numpy>=2",
        f"scikit-learn=={sklearn.__version__}",
        "-e",
        REPO,
        "-e",
        REPO / "plugins" / "sklearn",
    )


def python_numpy(python: Path | str) -> str:
    """The numpy version ``python`` imports."""
    done = subprocess.run(
        [str(python), "-c", "import numpy; print(numpy.__version__)"],
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout.strip()


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``iris`` (scikit-learn, in the server's process) and ``drift`` (KSDrift, in a worker
    of this alibi-detect environment)."""
    from alibi_detect.cd import KSDrift
    from alibi_detect.saving import save_detector

    logging.getLogger("alibi_detect").setLevel(logging.ERROR)
    root = tmp_path_factory.mktemp("env-models")
    write_model(root / "iris", train_logistic(), {"name": "iris", "implementation": "sklearn"})
    save_detector(KSDrift(X_REF, p_val=0.05), root / "drift" / "detector")
    write_model(
        root / "drift",
        None,
        {
            "name": "drift",
            "implementation": "alibi-detect",
            "parameters": {"uri": "detector", "environment_path": sys.prefix},
        },
    )
    return root


def _children(pid: int) -> list[list[str]]:
    """The command lines of ``pid``'s child processes (Linux ``/proc``)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue  # exited meanwhile
        if parent == pid:
            found.append([part.decode() for part in command if part])
    return found


@pytest.fixture(scope="module")
def server(models: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``kernel serve`` of the numpy-2 virtualenv over ``models``."""
    root = tmp_path_factory.mktemp("env-serve")
    env = build_numpy2_env(root)
    assert python_numpy(env / "bin" / "python").startswith("2.")
    with serve(
        models, root / "logs", ready_models=["iris", "drift"], kernel=[str(env / "bin" / "kernel")]
    ) as running:
        yield running


def infer(server: Server, model: str, x: Array, datatype: str) -> tuple[dict[str, Array], Any]:
    """``({output: array}, response parameters)`` over tritonclient's HTTP client."""
    with httpclient.InferenceServerClient(server.http_address, network_timeout=60) as client:
        tensor = httpclient.InferInput("x", list(x.shape), datatype)
        tensor.set_data_from_numpy(x, binary_data=True)
        result = client.infer(model, [tensor])
        response = result.get_response()
        arrays = {out["name"]: result.as_numpy(out["name"]) for out in response["outputs"]}
        return arrays, response.get("parameters", {})


def test_drift_detector_in_its_own_environment(server: Server, models: Path) -> None:
    from alibi_detect.saving import load_detector

    own = load_detector(models / "drift" / "detector")
    for x, drift in ((SAME, 0), (SHIFTED, 1)):
        arrays, params = infer(server, "drift", x, "FP32")
        assert arrays["is_drift"].tolist() == [drift]
        expected = own.predict(x)["data"]
        for name in ("p_val", "distance", "threshold"):
            np.testing.assert_array_equal(arrays[name].reshape(-1), np.ravel(expected[name]))
        assert params["name"] == "KSDrift"


def test_sklearn_model_beside_it_on_numpy_2(server: Server) -> None:
    arrays, _ = infer(server, "iris", ROWS, "FP64")
    assert arrays["predict"].tolist() == train_logistic().predict(ROWS).tolist()


def test_one_server_two_interpreters(server: Server) -> None:
    """The detector runs in a worker of this environment's interpreter (numpy 1.26), a child
    of the one server, whose own interpreter (serving ``iris``) has numpy 2."""
    assert np.__version__.startswith("1.")
    workers = [c for c in _children(server.process.pid) if "kernel.workers.main" in c]
    assert [c[0] for c in workers] == [str(Path(sys.prefix) / "bin" / "python")]
    command = server.process.args
    assert isinstance(command, list)
    server_python = Path(command[0]).parent / "python"  # the numpy-2 virtualenv's
    assert python_numpy(server_python).startswith("2.")
