"""Installing kernel by name from a wheelhouse built here, into a fresh virtualenv.

An unrelated ``kernel`` project is on PyPI, so the only by-name install is an offline one from
wheels built in this repository. This test builds them, installs the kernel alone (the sklearn
model must then fail with a hint naming the extra), then the sklearn extra by name (the model
must then serve): installing the plugin's wheel is what makes its runtime resolvable.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from packaging.requirements import Requirement
from uv import find_uv_bin

ROOT = Path(__file__).resolve().parents[2]
UV = find_uv_bin()

pytestmark = pytest.mark.slow


def _run(*args: str | Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, env=env, check=False
    )
    assert done.returncode == 0, f"{args} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _third_party_requirements(wheel: Path) -> list[str]:
    """The wheel's unconditional dependencies that are not our own distributions."""
    with zipfile.ZipFile(wheel) as zf:
        meta = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        lines = zf.read(meta).decode().splitlines()
    reqs = []
    for line in lines:
        if line.startswith("Requires-Dist:"):
            req = Requirement(line.split(":", 1)[1].strip())
            if req.marker is None and not req.name.startswith("kernel"):
                reqs.append(str(req))
    return reqs


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def _serve(venv: Path, models: Path) -> Iterator[str]:
    port = _free_port()
    proc = subprocess.Popen(
        [
            venv / "bin" / "kernel",
            "serve",
            str(models),
            "--host",
            "127.0.0.1",
            "--http-port",
            str(port),
            "--grpc-port",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            output = proc.stdout.read() if proc.poll() is not None and proc.stdout else ""
            assert proc.poll() is None, f"kernel serve exited: {output}"
            try:
                httpx.get(f"{base}/v2/health/live", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            pytest.fail("kernel serve did not come up in 60 s")
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _wait_loaded(base: str) -> list[dict[str, str]]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        index = httpx.post(f"{base}/v2/repository/index", timeout=5).json()
        if all(m["state"] not in ("LOADING", "") for m in index):
            return list(index)
        time.sleep(0.2)
    pytest.fail(f"models still loading: {index}")


def test_wheelhouse_install_by_name(tmp_path: Path) -> None:
    wheelhouse = tmp_path / "wheelhouse"
    env = {**os.environ, "KERNEL_EXTRAS_BY_NAME": "1"}
    for source in (ROOT, ROOT / "plugins" / "sklearn"):
        _run(UV, "build", "--wheel", "--out-dir", wheelhouse, source, env=env)
    kernel_wheel = next(wheelhouse.glob("kernel-*.whl"))
    plugin_wheel = next(wheelhouse.glob("kernel_sklearn-*.whl"))

    venv = tmp_path / "venv"
    python = venv / "bin" / "python"
    _run(UV, "venv", "--python", sys.executable, venv)
    # Third-party dependencies come from the environment's usual index; ours only from the
    # wheelhouse, by name.
    deps = _third_party_requirements(kernel_wheel) + _third_party_requirements(plugin_wheel)
    _run(UV, "pip", "install", "--python", python, *deps)
    _run(
        UV, "pip", "install", "--python", python, "--no-index", "--find-links", wheelhouse, "kernel"
    )
    where = _run(python, "-c", "import kernel, kernel.runtime; print(kernel.__file__)")
    assert str(venv) in where

    models = tmp_path / "models"
    (models / "iris").mkdir(parents=True)
    _run(python, ROOT / "examples" / "sklearn" / "train.py", models / "iris")
    (models / "iris" / "model-settings.json").write_text(
        json.dumps({"name": "iris", "implementation": "sklearn"})
    )

    with _serve(venv, models) as base:
        (entry,) = _wait_loaded(base)
        assert entry["state"] == "UNAVAILABLE"
        assert "kernel[sklearn]" in entry["reason"]

    _run(
        UV,
        "pip",
        "install",
        "--python",
        python,
        "--no-index",
        "--find-links",
        wheelhouse,
        "kernel[sklearn]",
    )
    listed = _run(venv / "bin" / "kernel", "plugins")
    assert "sklearn" in listed

    with _serve(venv, models) as base:
        (entry,) = _wait_loaded(base)
        assert entry["state"] == "READY", entry
        body = {
            "inputs": [
                {"name": "x", "shape": [1, 4], "datatype": "FP64", "data": [5.1, 3.5, 1.4, 0.2]}
            ]
        }
        answer = httpx.post(f"{base}/v2/models/iris/infer", json=body, timeout=10)
        assert answer.status_code == 200, answer.text
        (out,) = answer.json()["outputs"]
        assert out["name"] == "predict"
        assert out["data"] == ["setosa"]
