"""Running the real ``kernel serve`` in a subprocess on free loopback ports, for any test folder.

The end-to-end tests (through ``tests/e2e/e2e_server.py``), the example tests, the supervisor
and worker tests all start their servers here. A test folder imports it after putting this
folder on ``sys.path`` itself (``tests/`` is not a package, and relying on whichever
``conftest`` was imported first would make the import depend on the order of collection).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

# A server that is still starting after this is broken. Generous: a 2-core CI machine running
# other suites may take minutes to import TensorFlow or compile numba code (Alibi-Detect).
START_TIMEOUT = 300.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without the operator's ``KERNEL_*`` variables (they must not
    leak into what a test asserts), plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KERNEL_")}
    # A server that hangs while starting is sent SIGABRT (``Server.dump_stacks``); with the
    # fault handler on, Python writes every thread's stack to the log before it dies.
    env["PYTHONFAULTHANDLER"] = "1"
    env.update(extra)
    return env


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

    def dump_stacks(self, grace: float = 5.0) -> None:
        """For a server that hangs: SIGABRT makes each of its Python processes (the fault
        handler is on, see ``clean_env``) write every thread's stack to the log, and die."""
        if self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGABRT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(grace)

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


def _fail_on_failed_loads(
    server: Server, client: httpx.Client, models: list[str] | None, paths: list[str]
) -> None:
    """Not ready, and every load has ended: a model it waits for failed, and it never will be.
    Fail now, with the reasons, rather than at the start timeout."""
    index = client.post("/v2/repository/index", json={})
    if index.status_code != 200:
        return
    entries = index.json()
    if any(e.get("state") in ("LOADING", "UNLOADING") for e in entries):
        return
    failed = [
        f"{e.get('name')}: {e.get('reason')}"
        for e in entries
        if e.get("state") == "UNAVAILABLE" and (models is None or e.get("name") in models)
    ]
    # Asked again: the last load may have ended after the readiness check the caller made.
    if failed and not all(client.get(path).status_code == 200 for path in paths):
        raise RuntimeError(
            "kernel serve will not get ready, models failed to load:\n"
            + "\n".join(failed)
            + f"\n{server.output()}"
        )


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
                _fail_on_failed_loads(server, client, models, paths)
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
    workers: int | None = 1,
    kernel: list[str] | None = None,
    options: Sequence[str] = (),
) -> Iterator[Server]:
    """Run ``kernel serve models_dir`` on free loopback ports until the block ends.

    One server process by default (cheaper; the multi-process server has its own tests in
    tests/supervisor, which pass ``workers``); ``workers=None`` leaves ``--workers`` to the
    CLI's default, as a user's plain ``kernel serve`` does. ``kernel``: the command that runs
    the kernel CLI (default: this environment's), e.g. another virtualenv's ``bin/kernel``;
    ``options``: more ``kernel serve`` flags."""
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
    ]
    if workers is not None:
        command += ["--workers", str(workers)]
    command += options
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command,
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=clean_env(),
            start_new_session=True,  # its own process group: ``dump_stacks`` reaches its children
        )
    server = Server(process, http_port, grpc_port, log)
    try:
        try:
            _wait_ready(server, ready_models)
        except RuntimeError:  # it exited, or a model failed: its output is in the message
            raise
        except BaseException:
            # Still starting when our deadline, or pytest-timeout's, ran out: where it hangs
            # is in the log once the stacks are dumped; print it (the report shows captured
            # output) since pytest-timeout's failure carries no message of ours.
            server.dump_stacks()
            print(f"kernel serve never got ready; its log ({log}):\n{server.output()}")
            raise
        yield server
    finally:
        server.stop()
