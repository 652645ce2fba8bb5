"""The two load generators behind one call: perf_analyzer (C++) and the built-in loadgen.py.

Both return the same figures: ``rps``, ``p50_ms``/``p90_ms``/``p99_ms``, ``server_cpu_per_req_ms``
and ``client_cpu_util`` (client CPU seconds per wall second; near 1.0 means the client, not the
server, was the limit).
"""

from __future__ import annotations

import csv
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import procstat
import servers
import wire

DEFAULT_PA_VENV = servers.HERE / ".perf_analyzer"


@dataclass
class Load:
    """What to send, how hard and for how long."""

    transport: str  # "rest" | "grpc"
    port: int
    rows: int
    input_name: str
    concurrency: int
    duration: float  # measured seconds
    warmup: float  # seconds of load before measuring
    client_core: int | None
    outputs: tuple[wire.OutputSpec, ...] = wire.IRIS_OUTPUTS
    rest_format: str = "binary"  # "json": all-JSON REST bodies (built-in client only)
    grpc_channels: int = 1  # gRPC channels (connections) the calls spread over (built-in only)


def load_for(
    server: servers.Server,
    transport: str,
    rows: int,
    args: Any,
    client_core: int | None,
    outputs: tuple[wire.OutputSpec, ...],
    *,
    input_name: str = wire.INPUT,
    concurrency: int | None = None,
    **options: Any,
) -> Load:
    """The ``Load`` a benchmark's common options ask for (``args.concurrency``, ``duration``,
    ``warmup``) against ``server``'s port for ``transport``; ``options`` are ``Load``'s
    others (``rest_format``, ``grpc_channels``)."""
    port = server.http_port if transport == "rest" else server.grpc_port
    if port is None:
        raise RuntimeError(f"{server.name} does not serve {transport}")
    return Load(
        transport,
        port,
        rows,
        input_name,
        args.concurrency if concurrency is None else concurrency,
        args.duration,
        args.warmup,
        client_core,
        outputs,
        **options,
    )


def perf_analyzer_paths(venv: Path) -> tuple[Path, dict[str, str]] | None:
    """The perf_analyzer binary in ``venv`` and the environment it needs, or None."""
    binary = venv / "bin" / "perf_analyzer"
    libs = list(venv.glob("lib/python3*/site-packages/nvidia/cuda_runtime/lib"))
    if not binary.exists() or not libs:
        return None
    env = dict(os.environ)
    env["LD_LIBRARY_PATH"] = ":".join(
        [str(libs[0]), *filter(None, [os.environ.get("LD_LIBRARY_PATH")])]
    )
    return binary, env


def run_builtin(load: Load, server_pid: int) -> dict[str, Any]:
    """Run loadgen.py in its own (pinned) process and return its figures."""
    argv = [
        *servers.pin_prefix(load.client_core),
        sys.executable,
        str(servers.HERE / "loadgen.py"),
        "--transport",
        load.transport,
        "--port",
        str(load.port),
        "--rows",
        str(load.rows),
        "--input-name",
        load.input_name,
        "--concurrency",
        str(load.concurrency),
        "--duration",
        str(load.duration),
        "--warmup",
        str(load.warmup),
        "--server-pid",
        str(server_pid),
        "--outputs",
        wire.format_outputs(load.outputs),
        "--rest-format",
        load.rest_format,
        "--grpc-channels",
        str(load.grpc_channels),
    ]
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=load.duration * 4 + load.warmup + 60
        )
    except subprocess.TimeoutExpired:
        raise RuntimeError("loadgen did not finish in time (server hung?)") from None
    if done.returncode != 0:
        raise RuntimeError(f"loadgen failed ({done.returncode}): {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["cpu_method"] = "window"
    result["server_cpu_util"] = result["server_cpu_s"] / result["elapsed_s"]
    return result


def _perf_analyzer_once(
    binary: Path, env: dict[str, str], load: Load, data: Path, window_ms: int, report: Path
) -> tuple[subprocess.CompletedProcess[str], float, float]:
    """One perf_analyzer invocation: three windows of ``window_ms`` at fixed concurrency.

    ``-s 1000`` accepts the first three windows as stable: the run length is bounded by the
    duration asked for instead of perf_analyzer retrying until the noisy machine settles.
    Returns the process result and its start and end (monotonic).
    """
    argv = [
        *servers.pin_prefix(load.client_core),
        str(binary),
        "-m",
        wire.MODEL,
        "-i",
        "http" if load.transport == "rest" else "grpc",
        "-u",
        f"127.0.0.1:{load.port}",
        "--concurrency-range",
        str(load.concurrency),
        "--measurement-interval",
        str(window_ms),
        "--stability-percentage",
        "1000",
        "--max-trials",
        "3",
        "--input-data",
        str(data),
        "--shape",
        f"{load.input_name}:{load.rows},4",
        "-f",
        str(report),
    ]
    start = time.monotonic()
    proc = subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        out, _ = proc.communicate(timeout=window_ms / 1000 * 6 + 60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise RuntimeError("perf_analyzer did not finish in time (server hung?)") from None
    end = time.monotonic()
    return subprocess.CompletedProcess(argv, proc.returncode, out, None), start, end


def run_perf_analyzer(load: Load, server_pid: int, venv: Path) -> dict[str, Any]:
    """Run perf_analyzer (warm-up pass, then the measured pass) and return its figures.

    Server CPU per request = the server's CPU rate over the steady part of the measured pass
    (first 0.3 s and last 0.2 s dropped) divided by the throughput perf_analyzer reports.
    """
    found = perf_analyzer_paths(venv)
    if found is None:
        raise RuntimeError(f"perf_analyzer not installed in {venv}: run setup_perf_analyzer.sh")
    binary, env = found
    x = wire.iris_rows(load.rows)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "input.json"
        data.write_text(wire.perf_analyzer_input(x, load.input_name))
        report = Path(tmp) / "report.csv"
        if load.warmup > 0:
            _perf_analyzer_once(
                binary, env, load, data, max(100, int(load.warmup * 1000 / 3)), report
            )
        window_ms = max(200, int(load.duration * 1000 / 3))
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        with procstat.CpuSampler(server_pid) as sampler:
            done, start, end = _perf_analyzer_once(binary, env, load, data, window_ms, report)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode != 0:
            tail = "\n".join(str(done.stdout).splitlines()[-15:])
            raise RuntimeError(f"perf_analyzer exited {done.returncode}:\n{tail}")
        with open(report, newline="") as f:
            row = next(csv.DictReader(f))
    rps = float(row["Inferences/Second"])
    cpu_rate = sampler.rate(start + 0.3, end - 0.2)
    client_cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return {
        "requests": None,
        "errors": 0,
        "elapsed_s": end - start,
        "rps": rps,
        "p50_ms": float(row["p50 latency"]) / 1e3,
        "p90_ms": float(row["p90 latency"]) / 1e3,
        "p99_ms": float(row["p99 latency"]) / 1e3,
        "server_cpu_util": cpu_rate,
        "server_cpu_per_req_ms": cpu_rate / rps * 1e3 if rps else None,
        "client_cpu_util": client_cpu / (end - start),
        "cpu_method": "rate",
    }
