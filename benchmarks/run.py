"""Load benchmark: kernel's REST and gRPC against trivial ceilings, in one run, on loopback.

    /work/venv/bin/python benchmarks/run.py [--scenario sklearn|xgboost|lightgbm|catboost]
        [--duration 10] [--concurrency 8] [--rows 1,1000] [--transports rest,grpc]
        [--targets kernel,ceiling,ceiling-raw[,ceiling+model]]
        [--client auto|perf_analyzer|builtin]
        [--workers 1] [--no-pin]

Trains the scenario's iris model (``scenarios.py``) into a temporary model repository, starts
``kernel serve`` on free loopback ports, and for every (rows, transport) measures the ceiling(s)
and kernel one after the other with the same client, closed loop at fixed concurrency. Prints
markdown tables and writes ``benchmarks/results/<timestamp>-<scenario>.json``. See
benchmarks/README.md for the columns.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import sys
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

import clients
import scenarios
import servers
import wire

SERVER_CORE, CLIENT_CORE = 0, 1


def _versions() -> dict[str, str]:
    found = {}
    for dist in (
        "hypercorn",
        "grpclib",
        "betterproto",
        "h11",
        "h2",
        "numpy",
        "scikit-learn",
        "xgboost",
        "lightgbm",
        "catboost",
    ):
        try:
            found[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return found


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def measure(
    server: servers.Server, load: clients.Load, client: str, pa_venv: Path
) -> dict[str, Any]:
    """One measurement of one server with the chosen client."""
    if client == "perf_analyzer":
        return clients.run_perf_analyzer(load, server.pid, pa_venv)
    return clients.run_builtin(load, server.pid)


def combine(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Median of every figure over the rounds that succeeded, per (target, transport, rows).

    Rounds alternate the targets, so slow phases of a noisy machine hit all of them; the
    median drops the round a neighbour's burst spoiled.
    """
    groups: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
    for run in runs:
        groups.setdefault((run["target"], run["transport"], run["rows"]), []).append(run)
    combined = []
    for (target, transport, rows), group in groups.items():
        ok = [r for r in group if "error" not in r]
        entry: dict[str, Any] = {"target": target, "transport": transport, "rows": rows}
        entry["rounds"] = len(ok)
        if not ok:
            entry["error"] = group[0].get("error", "failed")
        else:
            for key, value in ok[0].items():
                if isinstance(value, int | float) and key not in ("round", "rows"):
                    values = [r[key] for r in ok if isinstance(r.get(key), int | float)]
                    entry[key] = float(statistics.median(values))
                elif key not in entry and key != "round":
                    entry[key] = value
        combined.append(entry)
    return combined


def derive(results: list[dict[str, Any]], predict_ms: dict[int, float]) -> list[dict[str, Any]]:
    """(kernel CPU/request - predict CPU) / ceiling CPU/request per transport, rows, ceiling."""
    by_key = {(r["target"], r["transport"], r["rows"]): r for r in results if "error" not in r}
    derived = []
    for (target, transport, rows), row in by_key.items():
        if target != "kernel":
            continue
        # The ceiling that runs the model is a pass-through-codec grpclib app over gRPC.
        with_model = by_key.get(("ceiling+model", transport, rows))
        model_ceiling = "ceiling" if transport == "rest" else "ceiling-raw"
        for ceiling in ("ceiling", "ceiling-raw"):
            base = by_key.get((ceiling, transport, rows))
            if base is None or not base.get("server_cpu_per_req_ms"):
                continue
            kernel_ms = row["server_cpu_per_req_ms"]
            ceiling_ms = base["server_cpu_per_req_ms"]
            entry = {
                "transport": transport,
                "rows": rows,
                "ceiling": ceiling,
                "kernel_cpu_per_req_ms": kernel_ms,
                "predict_ms": predict_ms[rows],
                "ceiling_cpu_per_req_ms": ceiling_ms,
                "ratio": (kernel_ms - predict_ms[rows]) / ceiling_ms,
                "rps_ratio": row["rps"] / base["rps"] if base["rps"] else None,
            }
            if with_model and with_model.get("server_cpu_per_req_ms") and ceiling == model_ceiling:
                # The model's cost as it runs inside a server: the same bare app with and
                # without it (see ceiling_model.py).
                in_server = with_model["server_cpu_per_req_ms"] - ceiling_ms
                entry["model_in_server_ms"] = in_server
                entry["ratio_model_in_server"] = (kernel_ms - in_server) / ceiling_ms
            derived.append(entry)
    return derived


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.{digits}f}"
    return str(value)


def markdown(report: dict[str, Any]) -> str:
    """The human-readable tables."""
    lines = [
        f"scenario: {report['scenario']}, kernel serve --workers {report['workers']}, "
        f"client: {report['client']}, concurrency {report['concurrency']}, "
        f"{report['duration_s']} s measured per row, median of {report['repeat']} round(s), "
        f"pinning: {report['pinning']}",
        "",
        "| target | transport | rows | req/s | p50 ms | p90 ms | p99 ms "
        "| server CPU/req ms | server CPU util | client CPU util |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["results"]:
        if "error" in r:
            lines.append(
                f"| {r['target']} | {r['transport']} | {r['rows']} "
                f"| error: {r['error'].splitlines()[0][:80]} |||||||"
            )
            continue
        lines.append(
            f"| {r['target']} | {r['transport']} | {r['rows']} | {_fmt(r['rps'])} "
            f"| {_fmt(r['p50_ms'])} | {_fmt(r['p90_ms'])} | {_fmt(r['p99_ms'])} "
            f"| {_fmt(r['server_cpu_per_req_ms'])} | {_fmt(r.get('server_cpu_util'), 2)} "
            f"| {_fmt(r['client_cpu_util'], 2)} |"
        )
    lines += [
        "",
        f"outputs requested: {', '.join(report['outputs_requested'])}",
        "",
        "| rows | model CPU ms, all requested outputs | model CPU ms, predict only |",
        "|---|---|---|",
    ]
    for rows, ms in report["predict_ms"].items():
        lines.append(f"| {rows} | {ms:.3f} | {report['predict_only_ms'][rows]:.3f} |")
    if report["derived"]:
        lines += [
            "",
            "| transport | rows | vs | kernel CPU/req ms | predict ms | ceiling CPU/req ms "
            "| (kernel - predict) / ceiling | kernel req/s / ceiling req/s "
            "| model in a server ms | (kernel - model in a server) / ceiling |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for d in report["derived"]:
            in_server = d.get("ratio_model_in_server")
            lines.append(
                f"| {d['transport']} | {d['rows']} | {d['ceiling']} "
                f"| {_fmt(d['kernel_cpu_per_req_ms'])} | {_fmt(d['predict_ms'])} "
                f"| {_fmt(d['ceiling_cpu_per_req_ms'])} | {d['ratio']:.2f} "
                f"| {_fmt(d['rps_ratio'], 2)} | {_fmt(d.get('model_in_server_ms'))} "
                f"| {'-' if in_server is None else f'{in_server:.2f}'} |"
            )
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description="kernel load benchmark (REST + gRPC vs ceilings)")
    p.add_argument(
        "--scenario",
        choices=list(scenarios.SCENARIOS),
        default="sklearn",
        help="the framework the iris model is trained and served with",
    )
    p.add_argument("--duration", type=float, default=10.0, help="measured seconds per row")
    p.add_argument("--warmup", type=float, default=2.0, help="seconds of load before measuring")
    p.add_argument("--concurrency", type=int, default=8, help="requests in flight")
    p.add_argument("--rows", default="1,1000", help="comma-separated rows per request")
    p.add_argument("--transports", default="rest,grpc")
    p.add_argument(
        "--targets",
        default="kernel,ceiling,ceiling-raw",
        help="kernel, ceiling (hypercorn ASGI / grpclib+betterproto), "
        "ceiling-raw (grpclib without protobuf; gRPC only), ceiling+model (the plain ceiling "
        "running the sklearn scenario's model in a thread pool: the model's cost inside a "
        "server; sklearn only)",
    )
    p.add_argument(
        "--repeat", type=int, default=1, help="rounds over all rows; the median is reported"
    )
    p.add_argument("--client", choices=["auto", "perf_analyzer", "builtin"], default="auto")
    p.add_argument("--perf-analyzer-venv", type=Path, default=clients.DEFAULT_PA_VENV)
    p.add_argument("--kernel-cmd", default=None, help="command that runs the kernel CLI")
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="kernel serve --workers (1: one process, like the ceilings)",
    )
    p.add_argument("--no-pin", action="store_true", help="do not taskset server/client")
    p.add_argument("--output", type=Path, default=servers.HERE / "results")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; exit status 1 if any row failed."""
    args = parse_args(argv)
    rows_list = [int(v) for v in args.rows.split(",")]
    transports = args.transports.split(",")
    targets = args.targets.split(",")
    client = args.client
    if client == "auto":
        found = clients.perf_analyzer_paths(args.perf_analyzer_venv)
        client = "perf_analyzer" if found else "builtin"
    pin = not args.no_pin and len(os.sched_getaffinity(0)) >= 2
    server_core, client_core = (SERVER_CORE, CLIENT_CORE) if pin else (None, None)
    results: list[dict[str, Any]] = []
    scenario = scenarios.SCENARIOS[args.scenario]

    with tempfile.TemporaryDirectory(prefix="kernel-bench-") as tmp:
        root = Path(tmp)
        model_path = scenario.write(root / "models")
        # Without kernel to ask, the ceilings answer the outputs the scenario's requests name.
        outputs: tuple[wire.OutputSpec, ...] = tuple(
            o for o in wire.IRIS_OUTPUTS if o.name in scenario.outputs
        )
        kernel: servers.Server | None = None
        kernel_error = ""
        if "kernel" in targets:
            kernel = servers.kernel(
                args.kernel_cmd or servers.default_kernel_command(),
                root / "models",
                server_core,
                args.workers,
            )
            try:
                kernel.start(root)
                kernel.wait_ready(timeout=120)
                meta = kernel.get_json(f"/v2/models/{wire.MODEL}")
                kernel_input = str(meta["inputs"][0]["name"])
                # Ceilings and clients mirror kernel's metadata: perf_analyzer requests every
                # output listed there.
                outputs = wire.outputs_from_metadata(meta)
            except (RuntimeError, OSError) as exc:
                kernel_error = f"kernel serve unavailable: {exc}"
                print(kernel_error, file=sys.stderr)
                kernel.stop()
        names = [o.name for o in outputs]
        predict_ms = {rows: scenario.model_cpu_ms(model_path, rows, names) for rows in rows_list}
        predict_only_ms = {
            rows: scenario.model_cpu_ms(model_path, rows, ["predict"]) for rows in rows_list
        }
        try:
            plan = [
                (round_, rows, transport, target)
                for round_ in range(args.repeat)
                for rows in rows_list
                for transport in transports
                for target in targets
                if not (target == "ceiling-raw" and transport != "grpc")
            ]
            for round_, rows, transport, target in plan:
                entry: dict[str, Any] = {
                    "target": target,
                    "transport": transport,
                    "rows": rows,
                    "round": round_,
                }
                results.append(entry)
                print(
                    f"... round {round_ + 1}/{args.repeat}: {target} {transport} {rows} row(s)",
                    file=sys.stderr,
                )
                if target == "kernel":
                    if kernel_error or kernel is None:
                        entry["error"] = kernel_error
                        continue
                    server = kernel
                    input_name = kernel_input
                else:
                    server = (
                        servers.ceiling_with_model(
                            transport, rows, str(model_path), outputs, True, server_core
                        )
                        if target == "ceiling+model"
                        else servers.ceiling(
                            transport,
                            rows,
                            target == "ceiling-raw",
                            server_core,
                            sys.executable,
                            outputs,
                        )
                    )
                    input_name = wire.INPUT
                load = clients.load_for(
                    server, transport, rows, args, client_core, outputs, input_name=input_name
                )
                try:
                    if server is not kernel:
                        server.start(root)
                        server.wait_ready(timeout=300 if target == "ceiling+model" else 30)
                    entry.update(measure(server, load, client, args.perf_analyzer_venv))
                except (RuntimeError, OSError, ValueError, KeyError) as exc:
                    entry["error"] = f"{exc}\n{server.log_tail(10)}"
                finally:
                    if server is not kernel:
                        server.stop()
        finally:
            if kernel is not None:
                kernel.stop()

    summary = combine(results)
    report = {
        "timestamp": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "scenario": scenario.name,
        "workers": args.workers,
        "client": client,
        "concurrency": args.concurrency,
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "pinning": f"server core {server_core}, client core {client_core}" if pin else "none",
        "machine": {
            "cpus": os.cpu_count(),
            "cpu_model": _cpu_model(),
            "python": platform.python_version(),
            "loadavg_end": os.getloadavg(),
        },
        "versions": _versions(),
        "outputs_requested": [o.name for o in outputs],
        "predict_ms": predict_ms,
        "predict_only_ms": predict_only_ms,
        "repeat": args.repeat,
        "runs": results,
        "results": summary,
        "derived": derive(summary, predict_ms),
    }
    args.output.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    out = args.output / f"{stamp}-{scenario.name}.json"
    out.write_text(json.dumps(report, indent=2))
    print(markdown(report))
    print(f"\nwritten: {out}")
    return 1 if any("error" in r for r in summary) else 0


if __name__ == "__main__":
    sys.exit(main())
