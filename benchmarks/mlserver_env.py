"""MLServer 1.7.1 for the side-by-side benchmark (``versus.py``): its virtualenv, its model
repository and its server process.

MLServer runs in a virtualenv of its own (``benchmarks/.mlserver-venv``, git-ignored), made
with uv by :func:`ensure_venv` the first time: its dependencies (FastAPI, pydantic, uvicorn,
protobuf, ...) must not meet kernel's. The same iris scikit-learn model file and the same
``model-settings.json`` (MLServer's ``implementation: mlserver_sklearn.SKLearnModel``, which
kernel maps onto its own scikit-learn runtime) are served by both servers.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import scenarios
import servers
import wire

DEFAULT_VENV = servers.HERE / ".mlserver-venv"
MLSERVER_VERSION = "1.7.1"
IMPLEMENTATION = "mlserver_sklearn.SKLearnModel"
#: Newer uvloop releases break MLServer 1.7.1's inference workers.
UVLOOP_VERSION = "0.21.0"


def wanted_versions() -> dict[str, str]:
    """The distributions pinned in MLServer's virtualenv.

    scikit-learn is pinned to the harness's own version so both servers unpickle the same
    ``model.joblib`` with the same library (a joblib file is only guaranteed to load in the
    version that wrote it).
    """
    return {
        "mlserver": MLSERVER_VERSION,
        "mlserver-sklearn": MLSERVER_VERSION,
        "uvloop": UVLOOP_VERSION,
        "scikit-learn": metadata.version("scikit-learn"),
    }


def venv_versions(venv: Path) -> dict[str, str] | None:
    """Versions of the pinned distributions (and numpy) in ``venv``; None when the virtualenv
    or one of them is missing."""
    python = venv / "bin" / "python"
    if not python.exists():
        return None
    names = [*wanted_versions(), "numpy"]
    script = (
        "import json, sys\nfrom importlib import metadata as m\n"
        "found = {}\nfor n in sys.argv[1:]:\n"
        "    try: found[n] = m.version(n)\n    except m.PackageNotFoundError: pass\n"
        "print(json.dumps(found))"
    )
    done = subprocess.run(
        [str(python), "-c", script, *names], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        return None
    found: dict[str, str] = json.loads(done.stdout)
    return found if all(n in found for n in names) else None


def ensure_venv(venv: Path = DEFAULT_VENV) -> dict[str, str]:
    """Create or complete MLServer's virtualenv with uv; return the installed versions.

    Does nothing when the pinned versions are already there.
    """
    wanted = wanted_versions()
    found = venv_versions(venv)
    if found is not None and all(found.get(k) == v for k, v in wanted.items()):
        return found
    uv = shutil.which("uv")
    if uv is None:
        raise RuntimeError(
            f"uv is needed to build MLServer's virtualenv in {venv} (pip install uv), "
            "or create it yourself with: " + " ".join(f"{k}=={v}" for k, v in wanted.items())
        )
    python = venv / "bin" / "python"
    if not python.exists():
        # The harness's own interpreter version (uv would otherwise pick any Python it finds).
        base = os.path.realpath(sys.executable)
        print(f"... creating {venv} with uv ({base})", file=sys.stderr)
        subprocess.run([uv, "venv", "--python", base, str(venv)], check=True)
    pins = [f"{k}=={v}" for k, v in wanted.items()]
    print(f"... installing {' '.join(pins)} into {venv}", file=sys.stderr)
    subprocess.run([uv, "pip", "install", "--python", str(python), *pins], check=True)
    found = venv_versions(venv)
    if found is None or any(found.get(k) != v for k, v in wanted.items()):
        raise RuntimeError(f"{venv}: expected {wanted}, found {found}")
    return found


def write_repository(root: Path, batching: dict[str, float] | None = None) -> Path:
    """The iris LogisticRegression under ``root/iris`` with MLServer's implementation name;
    returns the model file's path.

    ``batching`` (``max_batch_size``, ``max_batch_time``) goes into ``model-settings.json`` as
    top-level fields, which both servers read with the same meaning, so adaptive batching is
    on for both or for neither.
    """
    model_path = scenarios.write_sklearn(root)
    settings_path = root / wire.MODEL / "model-settings.json"
    settings = json.loads(settings_path.read_text())
    settings["implementation"] = IMPLEMENTATION
    settings.update(batching or {})
    settings_path.write_text(json.dumps(settings, indent=2))
    return model_path


def server(
    venv: Path,
    repo: Path,
    core: int | None,
    parallel_workers: int | None,
    debug: bool,
    cwd: Path,
    name: str,
) -> servers.Server:
    """``mlserver start REPO`` (not started) on free loopback ports.

    Settings go through MLServer's environment variables, so the repository stays the one
    kernel serves. ``parallel_workers`` None keeps MLServer's default (1: one inference
    worker process beside the server process); 0 predicts in the server process. ``debug``
    False turns off MLServer's per-request access log (its default is on; kernel writes
    none). MLServer writes its metrics directory (``.metrics``) into ``cwd``.
    """
    http_port, grpc_port, metrics_port = (servers.free_port() for _ in range(3))
    env = {
        "MLSERVER_HOST": "127.0.0.1",
        "MLSERVER_HTTP_PORT": str(http_port),
        "MLSERVER_GRPC_PORT": str(grpc_port),
        "MLSERVER_METRICS_PORT": str(metrics_port),
        "MLSERVER_DEBUG": "true" if debug else "false",
    }
    if parallel_workers is not None:
        env["MLSERVER_PARALLEL_WORKERS"] = str(parallel_workers)
    cwd.mkdir(parents=True, exist_ok=True)
    argv = [*servers.pin_prefix(core), str(venv / "bin" / "mlserver"), "start", str(repo)]
    return servers.Server(
        name,
        argv,
        http_port=http_port,
        grpc_port=grpc_port,
        env=env,
        cwd=cwd,
        ready_path=f"/v2/models/{wire.MODEL}/ready",
    )
