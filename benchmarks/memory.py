"""Memory of the server per process and per model: resident (RSS) and proportional (PSS) set
sizes of ``kernel serve`` with no model and with the iris model, with 1 and N server processes.

    python benchmarks/memory.py [--workers N]

Each configuration runs a real ``kernel serve`` on free loopback ports, waits until it is ready,
sends a few inferences (so lazy imports and first-call allocations are counted), lets it settle
and reads /proc (Linux only). The model's cost per process is the difference between a process
serving iris and one serving nothing; with N processes each holds its own copy.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import joblib
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from kernel.settings import available_cores

ROW = [5.1, 3.5, 1.4, 0.2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _kib(pid: int, file: str, key: str) -> int:
    for line in Path(f"/proc/{pid}/{file}").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        found += [int(c) for c in Path(f"/proc/{pid}/task/{tid}/children").read_text().split()]
    return sorted(found)


@contextlib.contextmanager
def _serve(models: Path, workers: int) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    http_port = _free_port()
    kernel = Path(sys.executable).parent / "kernel"
    command = [str(kernel), "serve", str(models), "--host", "127.0.0.1"]
    command += ["--http-port", str(http_port), "--grpc-port", str(_free_port())]
    command += ["--workers", str(workers), "--log-level", "WARNING"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("KERNEL_")}
    process = subprocess.Popen(command, env=env)
    url = f"http://127.0.0.1:{http_port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/v2/health/ready", timeout=2).status_code == 200:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("kernel serve did not become ready")
            time.sleep(0.2)
        yield process, url
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(60)


def _measure(models: Path, workers: int, with_model: bool) -> tuple[list[int], list[int], int]:
    """(RSS of each server process, PSS of each, supervisor RSS), in KiB."""
    with _serve(models, workers) as (process, url):
        if with_model:
            body = {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64", "data": ROW}]}
            for _ in range(20):  # fresh connections: every process gets some
                assert httpx.post(f"{url}/v2/models/iris/infer", json=body).status_code == 200
        time.sleep(2.0)
        servers = [process.pid] if workers == 1 else _children(process.pid)
        rss = [_kib(pid, "status", "VmRSS") for pid in servers]
        pss = [_kib(pid, "smaps_rollup", "Pss") for pid in servers]
        supervisor = 0 if workers == 1 else _kib(process.pid, "status", "VmRSS")
    return rss, pss, supervisor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=available_cores())  # kernel's default
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        empty, with_iris = Path(tmp, "empty"), Path(tmp, "iris")
        empty.mkdir()
        (with_iris / "iris").mkdir(parents=True)
        x, y = load_iris(return_X_y=True)
        joblib.dump(LogisticRegression(max_iter=1000).fit(x, y), with_iris / "iris/model.joblib")
        (with_iris / "iris/model-settings.json").write_text('{"implementation": "sklearn"}')
        print(
            "| processes | models | RSS per server process (MiB) | PSS per process (MiB) |"
            " supervisor RSS (MiB) | total RSS (MiB) |"
        )
        print("|---|---|---|---|---|---|")
        for workers in sorted({1, args.workers}):
            for label, folder in (("none", empty), ("iris", with_iris)):
                rss, pss, sup = _measure(folder, workers, folder is with_iris)
                each = ", ".join(f"{v / 1024:.1f}" for v in rss)
                each_pss = ", ".join(f"{v / 1024:.1f}" for v in pss)
                total = (sum(rss) + sup) / 1024
                print(
                    f"| {workers} | {label} | {each} | {each_pss} | {sup / 1024:.1f} |"
                    f" {total:.1f} |"
                )


if __name__ == "__main__":
    main()
