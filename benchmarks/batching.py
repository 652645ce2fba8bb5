"""Adaptive batching benchmark: the iris model with and without batching, at several concurrencies.

    /work/venv/bin/python benchmarks/batching.py [--concurrency 1,8,64] [--transports rest,grpc]
        [--rows 1] [--duration 5] [--warmup 1] [--repeat 1] [--max-batch-size 64]
        [--max-batch-time 0.005] [--workers 1] [--no-pin]

Trains the iris LogisticRegression into two temporary repositories that differ only in
``model-settings.json`` (``max_batch_size`` 0, and ``max_batch_size``/``max_batch_time`` as
given), starts ``kernel serve`` on each in turn, alternating round by round (``--workers``
processes, on core 0 unless ``--no-pin``), and drives it with the built-in closed-loop client
(``loadgen.py``, on core 1) at every concurrency. The requests are those of ``run.py`` (binary
FP64 input, every listed output).
Prints a markdown table and writes ``benchmarks/results/batching-<timestamp>.json``.

The built-in client is used, not perf_analyzer: with ``max_batch_size`` > 0 perf_analyzer reads
``--shape`` without the batch dimension and sends its own ``-b``, so the two modes would not
send the same bytes.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import clients
import scenarios
import servers
import wire

SERVER_CORE, CLIENT_CORE = 0, 1


def write_repository(root: Path, max_batch_size: int, max_batch_time: float) -> None:
    """The iris model under ``root`` with the batching fields set (0: batching off)."""
    scenarios.write_sklearn(root)
    path = root / wire.MODEL / "model-settings.json"
    settings = json.loads(path.read_text())
    if max_batch_size > 1:
        settings["max_batch_size"] = max_batch_size
        settings["max_batch_time"] = max_batch_time
    path.write_text(json.dumps(settings, indent=2))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description="kernel adaptive batching benchmark")
    p.add_argument("--concurrency", default="1,8,64", help="comma-separated requests in flight")
    p.add_argument("--transports", default="rest,grpc")
    p.add_argument("--rows", type=int, default=1, help="rows per request")
    p.add_argument("--duration", type=float, default=5.0, help="measured seconds per row")
    p.add_argument("--warmup", type=float, default=1.0)
    p.add_argument("--repeat", type=int, default=1, help="rounds; the median is reported")
    p.add_argument("--max-batch-size", type=int, default=64)
    p.add_argument("--max-batch-time", type=float, default=0.005)
    p.add_argument("--workers", type=int, default=1, help="kernel serve --workers")
    p.add_argument("--kernel-cmd", default=None, help="command that runs the kernel CLI")
    p.add_argument("--no-pin", action="store_true", help="do not taskset server/client")
    p.add_argument("--output", type=Path, default=servers.HERE / "results")
    return p.parse_args(argv)


def measure_mode(args: argparse.Namespace, tmp: Path, mode: str, pin: bool) -> list[dict[str, Any]]:
    """One round of every (transport, concurrency) of one mode ("off" or "on") against a
    fresh server."""
    repo = tmp / mode / "models"
    if not repo.exists():
        size = args.max_batch_size if mode == "on" else 0
        write_repository(repo, size, args.max_batch_time)
    server = servers.kernel(
        args.kernel_cmd or servers.default_kernel_command(),
        repo,
        SERVER_CORE if pin else None,
        args.workers,
    )
    results = []
    server.start(tmp / mode)
    try:
        server.wait_ready(timeout=120)
        meta = server.get_json(f"/v2/models/{wire.MODEL}")
        outputs = wire.outputs_from_metadata(meta)
        for transport in args.transports.split(","):
            for concurrency in (int(c) for c in args.concurrency.split(",")):
                print(f"... batching {mode}: {transport} c={concurrency}", file=sys.stderr)
                load = clients.load_for(
                    server,
                    transport,
                    args.rows,
                    args,
                    CLIENT_CORE if pin else None,
                    outputs,
                    input_name=str(meta["inputs"][0]["name"]),
                    concurrency=concurrency,
                )
                entry: dict[str, Any] = {
                    "batching": mode,
                    "transport": transport,
                    "concurrency": concurrency,
                }
                try:
                    entry.update(clients.run_builtin(load, server.pid))
                except (RuntimeError, ValueError, KeyError) as exc:
                    entry["error"] = f"{exc}\n{server.log_tail(10)}"
                results.append(entry)
    finally:
        server.stop()
    return results


def median_rows(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The median of each figure per (batching, transport, concurrency)."""
    groups: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
    for run in runs:
        key = (run["batching"], run["transport"], run["concurrency"])
        groups.setdefault(key, []).append(run)
    rows = []
    for (mode, transport, concurrency), group in sorted(groups.items()):
        ok = [r for r in group if "error" not in r]
        row: dict[str, Any] = {"batching": mode, "transport": transport, "concurrency": concurrency}
        if not ok:
            row["error"] = group[0]["error"]
        for figure in ("rps", "p50_ms", "p90_ms", "p99_ms", "server_cpu_per_req_ms", "errors"):
            values = [r[figure] for r in ok if isinstance(r.get(figure), int | float)]
            if values:
                row[figure] = float(statistics.median(values))
        rows.append(row)
    return rows


def markdown(rows: list[dict[str, Any]]) -> str:
    """One table: off and on side by side per transport and concurrency."""
    lines = [
        "| transport | concurrency | batching | req/s | p50 ms | p90 ms | p99 ms "
        "| server CPU/req ms | errors |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(rows, key=lambda r: (r["transport"], r["concurrency"], r["batching"])):
        if "error" in r:
            lines.append(
                f"| {r['transport']} | {r['concurrency']} | {r['batching']} "
                f"| error: {r['error'].splitlines()[0][:60]} ||||||"
            )
            continue
        lines.append(
            f"| {r['transport']} | {r['concurrency']} | {r['batching']} | {r['rps']:,.0f} "
            f"| {r['p50_ms']:.2f} | {r['p90_ms']:.2f} | {r['p99_ms']:.2f} "
            f"| {r['server_cpu_per_req_ms']:.3f} | {r.get('errors', 0):.0f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run both modes; exit status 1 if any measurement failed."""
    args = parse_args(argv)
    pin = not args.no_pin and len(os.sched_getaffinity(0)) >= 2
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="kernel-batching-") as tmp:
        # Modes alternate round by round, so a noisy phase of a shared machine hits both.
        for round_ in range(args.repeat):
            for mode in ("off", "on"):
                print(f"... round {round_ + 1}/{args.repeat}", file=sys.stderr)
                runs += measure_mode(args, Path(tmp), mode, pin)
    rows = median_rows(runs)
    report = {
        "timestamp": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "client": "builtin",
        "rows": args.rows,
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "repeat": args.repeat,
        "max_batch_size": args.max_batch_size,
        "max_batch_time": args.max_batch_time,
        "workers": args.workers,
        "pinning": f"server core {SERVER_CORE}, client core {CLIENT_CORE}" if pin else "none",
        "loadavg_end": os.getloadavg(),
        "runs": runs,
        "results": rows,
    }
    args.output.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    out = args.output / f"batching-{stamp}.json"
    out.write_text(json.dumps(report, indent=2))
    print(markdown(rows))
    print(f"\nwritten: {out}")
    return 1 if any("error" in r for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
