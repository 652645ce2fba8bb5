"""The ``http_server`` setting: its sources, its errors, and ``kernel serve`` on each server.

(The REST behaviours on both servers are in tests/e2e/test_e2e_http_server.py.)
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from cli_helpers import KERNEL, cli_env, free_port
from core_helpers import write_model

from kernel.errors import SettingsError
from kernel.http_servers import HTTP_SERVERS, check_installed
from kernel.settings import ServerSettings, load_settings

#: ``kernel`` run with uvicorn made unimportable, as in an install without the extra.
WITHOUT_UVICORN = [
    sys.executable,
    "-c",
    "import sys; sys.modules['uvicorn'] = None; from kernel.cli import main;"
    " sys.exit(main(sys.argv[1:]))",
]


def test_default_is_hypercorn() -> None:
    assert ServerSettings().http_server == "hypercorn"
    assert HTTP_SERVERS[0] == "hypercorn"


def test_every_source_sets_it(tmp_path: Path) -> None:
    (tmp_path / "settings.json").write_text(json.dumps({"http_server": "uvicorn"}))
    assert load_settings(tmp_path, environ={}).http_server == "uvicorn"
    env = {"KERNEL_HTTP_SERVER": "hypercorn"}
    assert load_settings(tmp_path, environ=env).http_server == "hypercorn"
    flags = {"http_server": "uvicorn"}
    assert load_settings(tmp_path, environ=env, overrides=flags).http_server == "uvicorn"


def test_unknown_server_names_its_source(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="KERNEL_HTTP_SERVER") as info:
        load_settings(tmp_path, environ={"KERNEL_HTTP_SERVER": "nginx"})
    assert "hypercorn" in str(info.value)
    (tmp_path / "settings.json").write_text(json.dumps({"http_server": "gunicorn"}))
    with pytest.raises(SettingsError, match=r"settings\.json"):
        load_settings(tmp_path, environ={})
    with pytest.raises(SettingsError, match="'nginx' is not one of hypercorn, uvicorn"):
        check_installed("nginx")


def test_unknown_server_flag_is_refused(tmp_path: Path) -> None:
    result = subprocess.run(
        [*KERNEL, "serve", str(tmp_path), "--http-server", "nginx"],
        capture_output=True,
        text=True,
        env=cli_env(),
    )
    assert result.returncode == 2
    assert "--http-server" in result.stderr
    assert "uvicorn" in result.stderr


@pytest.mark.parametrize("workers", ["1", "2"])
@pytest.mark.parametrize("source", ["flag", "env"])
def test_uvicorn_not_installed_is_a_clear_error(tmp_path: Path, workers: str, source: str) -> None:
    write_model(tmp_path / "echo", {"implementation": "echo"})
    args = ["--http-server", "uvicorn"] if source == "flag" else []
    env = cli_env(KERNEL_HTTP_SERVER="uvicorn") if source == "env" else cli_env()
    port = free_port()
    command = [*WITHOUT_UVICORN, "serve", str(tmp_path), "--host", "127.0.0.1"]
    command += ["--http-port", str(port), "--grpc-port", "0", "--workers", workers, *args]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 2, result.stderr
    assert "pip install 'kernel[uvicorn]'" in result.stderr
    assert "Traceback" not in result.stderr
    # Refused before anything listened or any server process started.
    assert "REST on" not in result.stderr
    assert "worker" not in result.stderr


@pytest.mark.parametrize("source", ["flag", "env"])
def test_serve_on_uvicorn(tmp_path: Path, source: str) -> None:
    write_model(tmp_path / "echo", {"implementation": "echo"})
    port = free_port()
    command = [*KERNEL, "serve", str(tmp_path), "--host", "127.0.0.1", "--http-port", str(port)]
    command += ["--grpc-port", "0", "--workers", "1"]
    if source == "flag":
        command += ["--http-server", "uvicorn"]
        env = cli_env(KERNEL_HTTP_SERVER="hypercorn")  # the flag beats the environment
    else:
        env = cli_env(KERNEL_HTTP_SERVER="uvicorn")
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, process.communicate()[0]
            try:
                if httpx.get(f"http://127.0.0.1:{port}/v2/health/ready", timeout=1).is_success:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "kernel serve never became ready"
            time.sleep(0.1)
        body = {"inputs": [{"name": "x", "shape": [2], "datatype": "INT32", "data": [1, 2]}]}
        answer = httpx.post(f"http://127.0.0.1:{port}/v2/models/echo/infer", json=body)
        assert answer.status_code == 200, answer.text
        assert answer.json()["outputs"][0]["data"] == [1, 2]
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, output
    assert f"REST on http://127.0.0.1:{port} (uvicorn)" in output
