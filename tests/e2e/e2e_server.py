"""Running the real ``kernel serve`` for end-to-end tests, and the models it serves.

Everything here is real: models are trained with scikit-learn and saved with joblib into a
temporary model repository, the server is the installed ``kernel`` command in a subprocess on
free loopback ports, and the tests talk to it with real V2 clients.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import joblib
import numpy as np
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier

#: Rows every test sends: one of each species, and a borderline flower.
ROWS = np.array(
    [[5.1, 3.5, 1.4, 0.2], [6.2, 2.9, 4.3, 1.3], [7.7, 3.0, 6.1, 2.3], [6.0, 2.7, 5.1, 1.6]]
)
SPECIES = np.array(["setosa", "versicolor", "virginica"])
# A server that is still starting after this is broken. Generous: a 2-core CI machine running
# other suites may take minutes to import TensorFlow or compile numba code (Alibi-Detect).
START_TIMEOUT = 300.0


def iris_data() -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    iris = load_iris()
    return iris.data, iris.target


def train_logistic(c: float = 1.0, labels: str = "int") -> LogisticRegression:
    """Integer labels (INT64 on the wire) or species names (BYTES)."""
    x, y = iris_data()
    target = SPECIES[y] if labels == "str" else y
    return LogisticRegression(C=c, max_iter=1000).fit(x, target)


def train_tree() -> DecisionTreeClassifier:
    x, y = iris_data()
    return DecisionTreeClassifier(max_depth=2, random_state=0).fit(x, y)


def write_model(
    folder: Path, estimator: object | None, settings: dict[str, Any] | None = None
) -> Path:
    """A model folder: ``model.joblib`` (when given) and ``model-settings.json`` (when given)."""
    folder.mkdir(parents=True, exist_ok=True)
    if estimator is not None:
        joblib.dump(estimator, folder / "model.joblib")
    if settings is not None:
        (folder / "model-settings.json").write_text(json.dumps(settings, indent=2))
    return folder


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def kernel_command() -> list[str]:
    """The installed ``kernel`` script of this interpreter's environment."""
    script = Path(sys.executable).parent / "kernel"
    if script.exists():
        return [str(script)]
    found = shutil.which("kernel")
    if found is None:
        raise RuntimeError("the `kernel` command is not installed in this environment")
    return [found]


@dataclass
class Repository:
    """The shared repository: ``iris`` (integer labels) and ``species`` (string labels)."""

    path: Path
    iris: LogisticRegression
    species: LogisticRegression


@dataclass
class Server:
    """A running ``kernel serve``: its ports, process and log file."""

    process: subprocess.Popen[bytes]
    http_port: int
    grpc_port: int
    log: Path

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def http_address(self) -> str:
        """``host:port``, as tritonclient wants it."""
        return f"127.0.0.1:{self.http_port}"

    @property
    def grpc_address(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM, then wait; SIGKILL only when the graceful stop hangs. The exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def _wait_ready(server: Server, models: list[str] | None) -> None:
    """Until ``/v2/health/ready`` answers 200 (or, given ``models``, each of those is ready,
    for repositories that hold a model meant to fail), and the gRPC port accepts connections."""
    paths = ["/v2/health/ready"] if models is None else [f"/v2/models/{m}/ready" for m in models]
    deadline = time.monotonic() + START_TIMEOUT
    with httpx.Client(base_url=server.http_url, timeout=5.0) as client:
        while True:
            if server.process.poll() is not None:
                raise RuntimeError(
                    f"kernel serve exited with {server.process.returncode}:\n{server.output()}"
                )
            try:
                if all(client.get(path).status_code == 200 for path in paths):
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"kernel serve not ready in {START_TIMEOUT} s:\n{server.output()}"
                )
            time.sleep(0.1)
    while True:
        with (
            contextlib.suppress(OSError),
            socket.create_connection(("127.0.0.1", server.grpc_port), 1),
        ):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"gRPC port {server.grpc_port} never opened:\n{server.output()}")
        time.sleep(0.1)


@contextlib.contextmanager
def serve(
    models_dir: Path,
    log_dir: Path,
    ready_models: list[str] | None = None,
    workers: int = 1,
    kernel: list[str] | None = None,
) -> Iterator[Server]:
    """Run ``kernel serve models_dir`` on free loopback ports until the block ends.

    One server process by default (cheaper; the multi-process server has its own tests in
    tests/supervisor, which pass ``workers``). ``kernel``: the command that runs the kernel
    CLI (default: this environment's), e.g. another virtualenv's ``bin/kernel``."""
    http_port, grpc_port = free_port(), free_port()
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / f"kernel-{http_port}.log"
    command = [
        *(kernel or kernel_command()),
        "serve",
        str(models_dir),
        "--host",
        "127.0.0.1",
        "--http-port",
        str(http_port),
        "--grpc-port",
        str(grpc_port),
        "--workers",
        str(workers),
    ]
    # The operator's KERNEL_* variables must not leak into what the test asserts.
    env = {k: v for k, v in os.environ.items() if not k.startswith("KERNEL_")}
    with log.open("wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, env=env)
    server = Server(process, http_port, grpc_port, log)
    try:
        _wait_ready(server, ready_models)
        yield server
    finally:
        server.stop()
