"""examples/plugin_distribution: a separate plugin distribution, installed into a fresh
virtualenv next to this checkout's kernel, listed by ``kernel plugins`` and served by that
environment's ``kernel serve``."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from example_server import EXAMPLES, ROOT, Server, serve
from uv import find_uv_bin

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

EXAMPLE = EXAMPLES / "plugin_distribution"


def _run(*args: str | Path) -> str:
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"{args} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv with the kernel from this checkout and the example installed (a
    regular, non-editable install: the plugin is found through its wheel's entry point)."""
    uv = find_uv_bin()
    venv = tmp_path_factory.mktemp("venv") / "env"
    _run(uv, "venv", "--python", sys.executable, venv)
    python = venv / "bin" / "python"
    # The kernel first, from the checkout: `kernel` by name from an index is another project.
    _run(uv, "pip", "install", "--python", python, "-e", ROOT)
    _run(uv, "pip", "install", "--python", python, EXAMPLE)
    return venv


@pytest.fixture(scope="module")
def server(venv: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    logs = tmp_path_factory.mktemp("logs")
    with serve(EXAMPLE / "models", logs, kernel=venv / "bin" / "kernel") as running:
        yield running


def test_the_installed_plugin_is_listed(venv: Path) -> None:
    where = _run(
        venv / "bin" / "python", "-c", "import kernel_example_plugin as p; print(p.__file__)"
    )
    assert where.startswith(str(venv))  # the installed copy, not the source folder
    listed = _run(venv / "bin" / "kernel", "plugins")
    row = next(line for line in listed.splitlines() if line.startswith("textstats "))
    assert row.split() == ["textstats", "kernel-example-plugin", "0.1.0", "textstats"]


def test_the_installed_plugin_serves(server: Server) -> None:
    body = {
        "inputs": [
            {"name": "text", "shape": [3], "datatype": "BYTES", "data": ["hello world", "ß", ""]}
        ]
    }
    answer = httpx.post(f"{server.http_url}/v2/models/textstats/infer", json=body, timeout=10)
    assert answer.status_code == 200, answer.text
    outputs = {o["name"]: o for o in answer.json()["outputs"]}
    assert outputs["chars"]["data"] == [11, 1, 0]
    assert outputs["words"]["data"] == [2, 1, 0]
    assert outputs["upper"]["data"] == ["HELLO WORLD", "SS", ""]
    assert outputs["upper"]["datatype"] == "BYTES"


def test_the_installed_plugin_rejects_what_its_settings_forbid(server: Server) -> None:
    body = {"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": ["x" * 101]}]}
    answer = httpx.post(f"{server.http_url}/v2/models/textstats/infer", json=body, timeout=10)
    assert answer.status_code == 400
    assert "longer than 100 chars" in answer.json()["error"]
    metadata = httpx.get(f"{server.http_url}/v2/models/textstats", timeout=10).json()
    assert metadata["platform"] == "textstats"
    assert [o["name"] for o in metadata["outputs"]] == ["chars", "words", "upper"]
