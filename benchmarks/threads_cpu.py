"""Where a kernel server's CPU per request goes, thread by thread.

    /work/venv/bin/python benchmarks/threads_cpu.py [--model sklearn|noop] [--src SRC]
        [--rows 1,1000] [--transports rest,grpc] [--rounds 3] [--duration 3]

Serves the iris model (``--model sklearn``) or the no-op runtime (``--model noop``, see
``noop_runtime.py``) with ``kernel serve --workers 1`` on core 0 (``PYTHONPATH=SRC`` when
given), loads it with perf_analyzer (else ``loadgen.py``) from core 1, and reads every thread's
CPU time and context switches from ``/proc/<pid>/task`` around the measured window. The
requests completed in the window come from kernel's own counter
(``kernel_infer_requests_total`` in ``/metrics``), so the per-request figures are exact counts
over the window, not a rate estimate.

Per (transport, rows) it prints CPU ms per request of the event-loop thread (transport, codec,
kernel glue), of the runtime threads (the model's predict as the server runs it, plus the
hand-off), the whole process, and context switches per request; with ``--model sklearn`` also
the model's own CPU per request measured in-process on the same core (``scenarios.py``), so
"runtime threads - in-process model" is what running the model inside the server adds.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import ab
import clients
import scenarios
import servers
import wire

_TICK = float(os.sysconf("SC_CLK_TCK"))


def thread_stats(pid: int) -> dict[int, tuple[str, float, int, int]]:
    """tid -> (name, CPU seconds, voluntary, involuntary context switches)."""
    out: dict[int, tuple[str, float, int, int]] = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        base = f"/proc/{pid}/task/{tid}"
        try:
            with open(f"{base}/stat") as f:
                raw = f.read()
            with open(f"{base}/status") as f:
                status = f.read()
        except OSError:
            continue
        name = raw[raw.index("(") + 1 : raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2 :].split()
        cpu = (int(fields[11]) + int(fields[12])) / _TICK
        vol = int(re.search(r"voluntary_ctxt_switches:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
        invol = int(re.search(r"nonvoluntary_ctxt_switches:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
        out[int(tid)] = (name, cpu, vol, invol)
    return out


def requests_done(port: int) -> int:
    """kernel_infer_requests_total summed over its series."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    return sum(
        int(float(line.rsplit(" ", 1)[1]))
        for line in text.splitlines()
        if line.startswith("kernel_infer_requests_total{")
    )


def measure(server: servers.Server, load: clients.Load, client: str) -> dict[str, Any]:
    """One load pass; thread CPU and switches per request over the middle of it."""
    assert server.http_port is not None
    result: dict[str, Any] = {}
    done = threading.Event()

    def run() -> None:
        try:
            result.update(ab._measure(server, long_load, client))
        finally:
            done.set()

    # One perf_analyzer pass longer than warm-up + window: wait for the first answers, let
    # the warm-up go by, then read the window well inside the pass.
    window, warmup = load.duration, load.warmup
    long_load = dataclasses.replace(load, warmup=0.0, duration=warmup + window + 3.0)
    worker = threading.Thread(target=run)
    worker.start()
    first = requests_done(server.http_port)
    while requests_done(server.http_port) == first and not done.is_set():
        time.sleep(0.05)
    time.sleep(warmup)
    n0, t0 = requests_done(server.http_port), thread_stats(server.pid)
    time.sleep(window)
    n1, t1 = requests_done(server.http_port), thread_stats(server.pid)
    worker.join()
    count = n1 - n0
    loop = runtime = other = 0.0
    switches = 0
    for tid, (name, cpu, vol, invol) in t1.items():
        before = t0.get(tid, (name, 0.0, 0, 0))
        delta = cpu - before[1]
        switches += (vol - before[2]) + (invol - before[3])
        if tid == server.pid:
            loop += delta
        else:  # the runtime threads (Python 3.11 does not name OS threads)
            runtime += delta
    return {
        "requests": count,
        "loop_ms": loop / count * 1e3,
        "runtime_ms": runtime / count * 1e3,
        "other_ms": other / count * 1e3,
        "total_ms": (loop + runtime + other) / count * 1e3,
        "switches_per_req": switches / count,
        "rps": result.get("rps"),
    }


def main(argv: list[str] | None = None) -> int:
    """Run it; print one table."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--model", choices=["sklearn", "noop"], default="sklearn")
    p.add_argument("--src", default="", help="PYTHONPATH for kernel serve (a copy of src/)")
    p.add_argument("--rows", default="1,1000")
    p.add_argument("--transports", default="rest,grpc")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--duration", type=float, default=3.0)
    p.add_argument("--warmup", type=float, default=1.0)
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--client", choices=["auto", "perf_analyzer", "builtin"], default="auto")
    args = p.parse_args(argv)
    client = args.client
    if client == "auto":
        found = clients.perf_analyzer_paths(clients.DEFAULT_PA_VENV)
        client = "perf_analyzer" if found else "builtin"
    rows_list = [int(v) for v in args.rows.split(",")]
    transports = args.transports.split(",")
    rows_of: dict[tuple[str, int], list[dict[str, Any]]] = {}
    model_ms: dict[int, float] = {}
    with tempfile.TemporaryDirectory(prefix="kernel-threads-") as tmp:
        root = Path(tmp)
        models = root / "models"
        if args.model == "noop":
            ab.write_noop(models)
        else:
            model_path = scenarios.SCENARIOS["sklearn"].write(models)
        server = servers.kernel(servers.default_kernel_command(), models, 0, 1)
        if args.src:
            server.env = {"PYTHONPATH": args.src}
        server.start(root)
        try:
            server.wait_ready(timeout=120)
            outputs = wire.outputs_from_metadata(server.get_json(f"/v2/models/{wire.MODEL}"))
            if args.model == "sklearn":
                mask = os.sched_getaffinity(0)
                os.sched_setaffinity(0, {0})
                try:
                    names = [o.name for o in outputs]
                    model_ms = {
                        r: scenarios.sklearn_cpu_ms(model_path, r, names) for r in rows_list
                    }
                finally:
                    os.sched_setaffinity(0, mask)
            for round_ in range(args.rounds):
                for rows in rows_list:
                    for transport in transports:
                        load = clients.load_for(server, transport, rows, args, 1, outputs)
                        figures = measure(server, load, client)
                        rows_of.setdefault((transport, rows), []).append(figures)
                        print(f"round {round_ + 1} {transport} {rows}: {figures}", file=sys.stderr)
        finally:
            server.stop()
    print(
        "| transport | rows | loop thread ms/req | runtime threads ms/req | other ms/req "
        "| process ms/req | model in-process ms | ctx switches/req |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for (transport, rows), runs in rows_of.items():
        med = {k: statistics.median(r[k] for r in runs) for k in runs[0] if k != "rps"}
        model = f"{model_ms[rows]:.3f}" if rows in model_ms else "-"
        print(
            f"| {transport} | {rows} | {med['loop_ms']:.3f} | {med['runtime_ms']:.3f} "
            f"| {med['other_ms']:.3f} | {med['total_ms']:.3f} | {model} "
            f"| {med['switches_per_req']:.1f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
