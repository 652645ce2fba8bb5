"""Start and stop the servers under test: ``kernel serve`` and the two ceilings.

The model repositories they serve are written by ``scenarios.py``.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import wire

HERE = Path(__file__).resolve().parent


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def pin_prefix(core: int | None) -> list[str]:
    """``taskset -c CORE`` when pinning, else nothing."""
    return [] if core is None else ["taskset", "-c", str(core)]


@dataclass
class Server:
    """A server process under test and the ports it listens on."""

    name: str
    argv: list[str]
    http_port: int | None = None
    grpc_port: int | None = None
    log: Path | None = None
    #: Extra environment variables for the process (on top of this process's environment).
    env: dict[str, str] = field(default_factory=dict)
    #: Working directory (None: this process's); MLServer writes ``.metrics/`` into it.
    cwd: Path | None = None
    #: The REST path that answers 200 once the server can serve (MLServer's server-wide
    #: readiness turns true before its models are loaded, so it is asked for the model's).
    ready_path: str = "/v2/health/ready"
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, log_dir: Path) -> None:
        """Launch the process with its output in ``log_dir/<name>.log``."""
        self.log = log_dir / f"{self.name}.log"
        env = {**os.environ, **self.env} if self.env else None
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                self.argv, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=self.cwd
            )

    def log_tail(self, lines: int = 20) -> str:
        if self.log is None or not self.log.exists():
            return ""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def wait_ready(self, timeout: float) -> None:
        """Wait until the REST readiness endpoint answers 200, or the gRPC port accepts."""
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.proc.returncode}:\n{self.log_tail()}"
                )
            if self._ready():
                return
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready after {timeout:.0f} s:\n{self.log_tail()}")

    def _ready(self) -> bool:
        if self.http_port is not None:
            url = f"http://127.0.0.1:{self.http_port}{self.ready_path}"
            try:
                with urllib.request.urlopen(url, timeout=1) as r:
                    return bool(r.status == 200)
            except (urllib.error.URLError, OSError):
                return False
        assert self.grpc_port is not None
        try:
            socket.create_connection(("127.0.0.1", self.grpc_port), timeout=1).close()
        except OSError:
            return False
        return True

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 10 s."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def get_json(self, path: str) -> Any:
        """GET a JSON document from the REST port."""
        assert self.http_port is not None
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}{path}", timeout=5) as r:
            return json.loads(r.read())


def ceiling(
    transport: str,
    rows: int,
    raw: bool,
    core: int | None,
    python: str,
    outputs: tuple[wire.OutputSpec, ...],
) -> Server:
    """A ceiling server (not started) for one transport and response size."""
    port = free_port()
    argv = [
        *pin_prefix(core),
        python,
        str(HERE / "ceilings.py"),
        transport,
        "--port",
        str(port),
        "--rows",
        str(rows),
        "--outputs",
        wire.format_outputs(outputs),
    ]
    if raw:
        argv.append("--raw")
    name = f"ceiling{'-raw' if raw else ''}-{transport}-{rows}"
    if transport == "rest":
        return Server(name, argv, http_port=port)
    return Server(name, argv, grpc_port=port)


def ceiling_with_model(
    transport: str,
    rows: int,
    model: str,
    outputs: tuple[wire.OutputSpec, ...],
    threaded: bool,
    core: int | None,
) -> Server:
    """``ceiling_model.py`` (not started): the ceiling that also runs the sklearn model at
    ``model`` on each request, inline or (``threaded``) in the loop's thread pool."""
    port = free_port()
    argv = [
        *pin_prefix(core),
        sys.executable,
        str(HERE / "ceiling_model.py"),
        transport,
        "--port",
        str(port),
        "--rows",
        str(rows),
        "--model",
        model,
        "--outputs",
        wire.format_outputs(outputs),
        *(["--threaded"] if threaded else []),
    ]
    name = f"ceiling-model{'-thread' if threaded else ''}-{transport}-{rows}"
    if transport == "rest":
        return Server(name, argv, http_port=port)
    return Server(name, argv, grpc_port=port)


def kernel(
    command: str,
    repo: Path,
    core: int | None,
    workers: int | None = 1,
    http_server: str | None = None,
    name: str = "kernel",
) -> Server:
    """``kernel serve --workers N`` (not started) on free loopback ports for the repository.

    One process by default (``kernel serve``'s own default is one per core): the ceilings
    are single processes, and CPU per request is only comparable process for process.
    ``workers=None`` leaves ``kernel serve`` its default; ``http_server`` is passed as
    ``--http-server`` (hypercorn or uvicorn) when given.
    """
    http_port, grpc_port = free_port(), free_port()
    argv = [
        *pin_prefix(core),
        *shlex.split(command),
        "serve",
        str(repo),
        "--host",
        "127.0.0.1",
        "--http-port",
        str(http_port),
        "--grpc-port",
        str(grpc_port),
    ]
    if workers is not None:
        argv += ["--workers", str(workers)]
    if http_server is not None:
        argv += ["--http-server", http_server]
    return Server(name, argv, http_port=http_port, grpc_port=grpc_port)


def default_kernel_command() -> str:
    """The ``kernel`` script next to this interpreter, else ``python -m kernel``."""
    script = Path(sys.executable).parent / "kernel"
    if script.exists() and os.access(script, os.X_OK):
        return str(script)
    return f"{sys.executable} -m kernel"
