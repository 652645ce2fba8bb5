"""Run a real ``kernel serve`` (any environment's ``kernel`` command) on free loopback ports."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Served:
    process: subprocess.Popen[bytes]
    http_port: int
    grpc_port: int
    log: Path

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def grpc_address(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def _wait_ready(served: Served, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if served.process.poll() is not None:
            raise RuntimeError(f"kernel serve exited:\n{served.output()}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(served.http_url + "/v2/health/ready", timeout=2).status_code == 200:
                with contextlib.suppress(OSError):
                    socket.create_connection(("127.0.0.1", served.grpc_port), 1).close()
                    return
        if time.monotonic() > deadline:
            raise TimeoutError(f"kernel serve not ready in {timeout} s:\n{served.output()}")
        time.sleep(0.1)


@contextlib.contextmanager
def serve(models: Path, log_dir: Path, kernel: Path | None = None) -> Iterator[Served]:
    """``kernel serve models`` until the block ends (SIGTERM; SIGKILL only if that hangs).

    ``kernel`` is the command to run: this interpreter's environment's by default.
    """
    command = kernel or Path(sys.executable).parent / "kernel"
    http_port, grpc_port = free_port(), free_port()
    log = log_dir / f"kernel-{http_port}.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("KERNEL_")}
    args = [str(command), "serve", str(models), "--host", "127.0.0.1"]
    args += ["--http-port", str(http_port), "--grpc-port", str(grpc_port)]
    with log.open("wb") as sink:
        process = subprocess.Popen(args, stdout=sink, stderr=subprocess.STDOUT, env=env)
    served = Served(process, http_port, grpc_port, log)
    try:
        _wait_ready(served)
        yield served
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    assert process.returncode == 0, f"kernel serve exited with {process.returncode}"
