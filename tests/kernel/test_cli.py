"""The ``kernel`` command as a user runs it: a real process on free loopback ports."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from cli_helpers import KERNEL, cli_env, free_port
from core_helpers import write_model

import kernel

SLOW_RUNTIME = """
import time
from kernel import Runtime
from protocol.messages import InferenceResponse

class Slow(Runtime):
    async def predict(self, request):
        time.sleep(float(request.parameters["sleep"]))
        return InferenceResponse(model_name=self.name, outputs=[])
"""


@contextmanager
def kernel_serve(models: Path, *args: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    http_port = free_port()
    command = [*KERNEL, "serve", str(models), "--host", "127.0.0.1", "--http-port", str(http_port)]
    process = subprocess.Popen(
        [*command, *args],
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{http_port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, process.communicate()[0]
            try:
                if httpx.get(f"{url}/v2/health/live", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "kernel serve never answered /v2/health/live"
            time.sleep(0.1)
        yield process, url
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.fixture
def models(tmp_path: Path) -> Path:
    write_model(tmp_path / "echo", {"implementation": "echo"})
    folder = write_model(tmp_path / "slow", {"implementation": "models.Slow"})
    (folder / "models.py").write_text(SLOW_RUNTIME)
    return tmp_path


def test_version() -> None:
    result = subprocess.run([*KERNEL, "--version"], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == f"kernel {kernel.__version__}"


def test_plugins_lists_builtins_with_runtimes() -> None:
    result = subprocess.run(
        [*KERNEL, "plugins"], capture_output=True, text=True, check=True, env=cli_env()
    )
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["PLUGIN", "DISTRIBUTION", "VERSION", "RUNTIMES"]
    assert lines[1].split() == ["echo", "kernel", "(built", "in)", kernel.__version__, "echo"]


def test_serve_answers_and_sigterm_finishes_in_flight(models: Path) -> None:
    grpc_port = free_port()
    with kernel_serve(models, "--grpc-port", str(grpc_port)) as (process, url):
        deadline = time.monotonic() + 30
        while httpx.get(f"{url}/v2/health/ready").status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        body = {
            "id": "1",
            "inputs": [{"name": "x", "shape": [2], "datatype": "INT32", "data": [4, 2]}],
        }
        answer = httpx.post(f"{url}/v2/models/echo/infer", json=body).json()
        assert answer["outputs"][0]["data"] == [4, 2]
        assert answer["id"] == "1"
        with socket.create_connection(("127.0.0.1", grpc_port), timeout=5):
            pass  # the gRPC port listens too

        slow: dict[str, httpx.Response] = {}
        slow_body = {"parameters": {"sleep": 1.5}, "inputs": body["inputs"]}
        thread = threading.Thread(
            target=lambda: slow.setdefault(
                "r", httpx.post(f"{url}/v2/models/slow/infer", json=slow_body, timeout=30)
            )
        )
        thread.start()
        time.sleep(0.5)  # the request is in predict now
        process.send_signal(signal.SIGTERM)
        thread.join(30)
        assert slow["r"].status_code == 200, slow["r"].text
        output, _ = process.communicate(timeout=30)
        assert process.returncode == 0, output
    assert "model 'echo' loaded (runtime echo)" in output
    assert "model 'slow' unloaded" in output


def test_grpc_port_zero_turns_grpc_off(models: Path) -> None:
    with kernel_serve(models, "--grpc-port", "0") as (process, url):
        assert httpx.get(f"{url}/v2/health/live").json() == {"live": True}
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert "gRPC on" not in output


def test_bad_settings_exit_with_message(tmp_path: Path) -> None:
    (tmp_path / "settings.json").write_text(json.dumps({"htp_port": 1}))
    result = subprocess.run(
        [*KERNEL, "serve", str(tmp_path)], capture_output=True, text=True, env=cli_env()
    )
    assert result.returncode == 2
    assert "htp_port" in result.stderr
    assert "settings.json" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_models_dir(tmp_path: Path) -> None:
    result = subprocess.run(
        [*KERNEL, "serve", str(tmp_path / "nope"), "--http-port", "0", "--grpc-port", "0"],
        capture_output=True,
        text=True,
        env=cli_env(),
    )
    assert result.returncode == 2
    assert "does not exist" in result.stderr
    assert "Traceback" not in result.stderr
