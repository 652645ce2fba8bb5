"""Helpers for the multi-process server tests: the pid-reporting model, requests on fresh
connections (so the kernel spreads them over the processes), a SIGTERM while requests are in
flight, and the server's processes."""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))
from server_process import Server

#: A runtime that answers with the pid of the process serving it. Its input is the number of
#: seconds to take; ``load_seconds`` in the settings slows its load down.
PID_RUNTIME = """
import os
import time

import numpy as np

from kernel.runtime import Runtime
from protocol.messages import InferenceResponse, ResponseOutput


class PidRuntime(Runtime):
    async def load(self):
        time.sleep(float(self.settings.parameters.extra.get("load_seconds", 0)))

    async def predict(self, request):
        seconds = float(np.asarray(request.inputs[0].data).reshape(-1)[0])
        started = self.settings.parameters.extra.get("started_dir")
        if started:  # lets a test see that the request is being served
            open(os.path.join(started, f"{os.getpid()}-{time.monotonic_ns()}"), "w").close()
        if seconds:
            time.sleep(seconds)
        pid = np.array([os.getpid()], dtype=np.int64)
        output = ResponseOutput(name="pid", shape=[1], datatype="INT64", data=pid)
        return InferenceResponse(model_name=self.name, outputs=[output])
"""


def write_pid_model(
    folder: Path, load_seconds: float = 0.0, started_dir: Path | None = None
) -> Path:
    """The pid model in ``folder``; with ``started_dir``, each predict first leaves a file
    there."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "models.py").write_text(PID_RUNTIME)
    extra: dict[str, Any] = {"load_seconds": load_seconds}
    if started_dir is not None:
        extra["started_dir"] = str(started_dir)
    settings = {
        "name": folder.name,
        "implementation": "models.PidRuntime",
        "parameters": {"extra": extra},
    }
    (folder / "model-settings.json").write_text(json.dumps(settings))
    return folder


def infer(url: str, model: str, seconds: float = 0.0) -> httpx.Response:
    """One inference on a new connection (a fresh connection may land on any process)."""
    body = {"inputs": [{"name": "seconds", "shape": [1], "datatype": "FP64", "data": [seconds]}]}
    return httpx.post(f"{url}/v2/models/{model}/infer", json=body, timeout=30.0)


def pid_of(response: httpx.Response) -> int:
    assert response.status_code == 200, response.text
    data: Any = response.json()["outputs"][0]["data"]
    return int(data[0])


def sigterm_while_predicting(
    server: Server, started: Path, requests: int
) -> tuple[list[int], float]:
    """Sends ``requests`` two-second requests to the ``pid`` model (written with
    ``started_dir=started``), each on its own connection, and SIGTERM to ``server`` once every
    one of them is being predicted. Their status codes once all have ended, and when the
    signal was sent (``time.monotonic()``)."""
    results: list[int] = []

    def slow() -> None:
        results.append(infer(server.http_url, "pid", seconds=2.0).status_code)

    threads = [threading.Thread(target=slow) for _ in range(requests)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 30
    while len(list(started.iterdir())) < requests:  # until every one is predicting
        assert time.monotonic() < deadline, server.output()
        time.sleep(0.05)
    server.process.send_signal(signal.SIGTERM)
    signalled = time.monotonic()
    for thread in threads:
        thread.join(30)
    return results, signalled


def children(pid: int) -> set[int]:
    """The live child processes of ``pid`` (from /proc)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces, so split after the last ')'.
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found.add(int(entry.name))
    return found


def requests_total(url: str, model: str) -> int:
    """The server's ``kernel_infer_requests_total`` for ``model``, summed over its labels."""
    text = httpx.get(f"{url}/metrics", timeout=10.0).text
    prefix = f'kernel_infer_requests_total{{model="{model}"'
    return sum(int(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(prefix))


def rss_kib(pid: int) -> int:
    """Resident set size of ``pid`` in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


__all__ = [
    "children",
    "infer",
    "pid_of",
    "requests_total",
    "rss_kib",
    "sigterm_while_predicting",
    "write_pid_model",
]
