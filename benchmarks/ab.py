"""A/B load comparison: several server variants measured in alternating rounds, in one run.

    /work/venv/bin/python benchmarks/ab.py --variant base=/tmp/src-before \\
        --variant new= [--ceilings] [--ceiling-model] [--model noop|sklearn] [--rows 1,1000] \\
        [--transports rest,grpc] [--rounds 5] [--duration 3] [--warmup 1]

Each ``--variant NAME=SRC`` is a ``kernel serve --workers 1`` with ``PYTHONPATH=SRC`` (a copy of
``src/`` to run instead of the installed tree; empty: the installed tree), all started once on
core 0 and left running; ``--ceilings`` adds the REST ceiling (bare ASGI on hypercorn) and the
gRPC ceiling-raw (grpclib, no protobuf) as variants ``ceiling`` (see ``ceilings.py``);
``--ceiling-model`` (with ``--model sklearn``) adds the same apps running the model's four calls
on each request, inline (``ceiling+model``) and in the loop's thread pool
(``ceiling+model-thread``), see ``ceiling_model.py``. Per round,
rows and transport every variant is measured one after the other with the same client
(perf_analyzer if installed, else ``loadgen.py``), the order reversed every round so that a
slow phase of a noisy machine does not always land on the same variant. The figure compared is
server CPU per request (the process tree's CPU from /proc over the measured window, divided by
the requests completed in it), not req/s.

``--model noop`` serves ``noop_runtime.NoopRuntime`` (a predict that returns pre-built arrays):
the server's own cost per request without the model's. ``--model sklearn``: the iris
LogisticRegression, as ``run.py`` serves it.

Prints, per (transport, rows), each variant's median CPU per request and the median of the
per-round ratios to the first variant; writes ``results/ab-<timestamp>.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
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


def write_noop(root: Path) -> None:
    """``root/iris``: the no-op runtime and its model-settings.json."""
    folder = root / wire.MODEL
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(servers.HERE / "noop_runtime.py", folder / "noop_runtime.py")
    settings = {"name": wire.MODEL, "implementation": "noop_runtime.NoopRuntime"}
    (folder / "model-settings.json").write_text(json.dumps(settings))


def ceiling_model(
    transport: str, rows: int, model: str, outputs: tuple[wire.OutputSpec, ...], threaded: bool
) -> servers.Server:
    """``ceiling_model.py`` (not started) on a free port, on the server core."""
    return servers.ceiling_with_model(transport, rows, model, outputs, threaded, SERVER_CORE)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description="A/B server CPU per request, alternating rounds")
    p.add_argument(
        "--variant",
        action="append",
        default=[],
        help="NAME=SRC: kernel serve with PYTHONPATH=SRC (empty: the installed tree)",
    )
    p.add_argument("--ceilings", action="store_true", help="also measure the ceilings")
    p.add_argument(
        "--ceiling-model",
        action="store_true",
        help="also the ceilings running the sklearn model inline (ceiling_model.py)",
    )
    p.add_argument("--model", choices=["noop", "sklearn"], default="noop")
    p.add_argument("--rows", default="1,1000")
    p.add_argument("--transports", default="rest,grpc")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--duration", type=float, default=3.0)
    p.add_argument("--warmup", type=float, default=1.0)
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--client", choices=["auto", "perf_analyzer", "builtin"], default="auto")
    p.add_argument("--http-server", default=None, help="kernel --http-server")
    p.add_argument("--output", type=Path, default=servers.HERE / "results")
    return p.parse_args(argv)


def _measure(server: servers.Server, load: clients.Load, client: str) -> dict[str, Any]:
    if client == "perf_analyzer":
        return clients.run_perf_analyzer(load, server.pid, clients.DEFAULT_PA_VENV)
    return clients.run_builtin(load, server.pid)


def main(argv: list[str] | None = None) -> int:
    """Run the comparison; exit status 1 if a measurement failed."""
    args = parse_args(argv)
    rows_list = [int(v) for v in args.rows.split(",")]
    transports = args.transports.split(",")
    client = args.client
    if client == "auto":
        client = (
            "perf_analyzer" if clients.perf_analyzer_paths(clients.DEFAULT_PA_VENV) else "builtin"
        )
    names = [v.split("=", 1)[0] for v in args.variant]
    if args.ceilings:
        names.append("ceiling")
    if args.ceiling_model:
        if args.model != "sklearn":
            raise SystemExit("--ceiling-model needs --model sklearn")
        names += ["ceiling+model", "ceiling+model-thread"]
    if not names:
        raise SystemExit("no variant to measure")
    runs: list[dict[str, Any]] = []
    started: list[servers.Server] = []
    with tempfile.TemporaryDirectory(prefix="kernel-ab-") as tmp:
        root = Path(tmp)
        models = root / "models"
        model_path = None
        if args.model == "noop":
            write_noop(models)
        else:
            model_path = scenarios.SCENARIOS["sklearn"].write(models)
        kernels: dict[str, servers.Server] = {}
        ceilings: dict[tuple[str, int], servers.Server] = {}
        with_model: dict[tuple[str, int, bool], servers.Server] = {}
        try:
            for spec in args.variant:
                name, _, src = spec.partition("=")
                server = servers.kernel(
                    servers.default_kernel_command(),
                    models,
                    SERVER_CORE,
                    1,
                    args.http_server,
                    name=f"kernel-{name}",
                )
                if src:
                    server.env = {"PYTHONPATH": src}
                server.start(root)
                started.append(server)
                kernels[name] = server
            for server in kernels.values():
                server.wait_ready(timeout=120)
            outputs = (
                wire.outputs_from_metadata(
                    next(iter(kernels.values())).get_json(f"/v2/models/{wire.MODEL}")
                )
                if kernels
                else wire.IRIS_OUTPUTS
            )
            if args.ceilings:
                for transport in transports:
                    for rows in rows_list:
                        server = servers.ceiling(
                            transport,
                            rows,
                            transport == "grpc",
                            SERVER_CORE,
                            sys.executable,
                            outputs,
                        )
                        server.start(root)
                        started.append(server)
                        ceilings[(transport, rows)] = server
                for server in ceilings.values():
                    server.wait_ready(timeout=30)
            if args.ceiling_model:
                for transport in transports:
                    for rows in rows_list:
                        for threaded in (False, True):
                            server = ceiling_model(
                                transport, rows, str(model_path), outputs, threaded
                            )
                            server.start(root)
                            started.append(server)
                            with_model[(transport, rows, threaded)] = server
                for server in with_model.values():
                    server.wait_ready(timeout=300)
            for round_ in range(args.rounds):
                order = names if round_ % 2 == 0 else names[::-1]
                for rows in rows_list:
                    for transport in transports:
                        for name in order:
                            if name == "ceiling":
                                server = ceilings[(transport, rows)]
                            elif name.startswith("ceiling+model"):
                                server = with_model[(transport, rows, name.endswith("thread"))]
                            else:
                                server = kernels[name]
                            load = clients.load_for(
                                server, transport, rows, args, CLIENT_CORE, outputs
                            )
                            entry: dict[str, Any] = {
                                "variant": name,
                                "transport": transport,
                                "rows": rows,
                                "round": round_,
                                "loadavg": os.getloadavg()[0],
                            }
                            try:
                                entry.update(_measure(server, load, client))
                            except (RuntimeError, OSError, ValueError, KeyError) as exc:
                                entry["error"] = f"{exc}\n{server.log_tail(10)}"
                            runs.append(entry)
                            cpu = entry.get("server_cpu_per_req_ms")
                            print(
                                f"round {round_ + 1} {transport} {rows:>4} {name:>12}: "
                                + (
                                    f"{cpu:.3f} ms/req, {entry['rps']:.0f} req/s, "
                                    f"util {entry['server_cpu_util']:.2f}"
                                    if cpu
                                    else f"error {entry.get('error', '')[:200]}"
                                ),
                                file=sys.stderr,
                                flush=True,
                            )
        finally:
            for server in started:
                server.stop()
    summary = summarise(runs, names, rows_list, transports)
    print(report(summary, names))
    args.output.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    out = args.output / f"ab-{stamp}.json"
    out.write_text(
        json.dumps(
            {"args": {k: str(v) for k, v in vars(args).items()}, "runs": runs, "summary": summary},
            indent=2,
        )
    )
    print(f"\nwritten: {out}")
    return 1 if any("error" in r for r in runs) else 0


def summarise(
    runs: list[dict[str, Any]], names: list[str], rows_list: list[int], transports: list[str]
) -> list[dict[str, Any]]:
    """Per (transport, rows, variant): median CPU/req and median per-round ratio to names[0]."""
    cpu: dict[tuple[str, int, str, int], float] = {}
    for r in runs:
        if r.get("server_cpu_per_req_ms"):
            cpu[(r["transport"], r["rows"], r["variant"], r["round"])] = r["server_cpu_per_req_ms"]
    out = []
    rounds = sorted({r["round"] for r in runs})
    for transport in transports:
        for rows in rows_list:
            for name in names:
                mine = [
                    cpu[(transport, rows, name, i)]
                    for i in rounds
                    if (transport, rows, name, i) in cpu
                ]
                ratios = [
                    cpu[(transport, rows, name, i)] / cpu[(transport, rows, names[0], i)]
                    for i in rounds
                    if (transport, rows, name, i) in cpu and (transport, rows, names[0], i) in cpu
                ]
                out.append(
                    {
                        "transport": transport,
                        "rows": rows,
                        "variant": name,
                        "cpu_ms": statistics.median(mine) if mine else None,
                        "ratio": statistics.median(ratios) if ratios else None,
                        "ratios": [round(x, 3) for x in ratios],
                    }
                )
    return out


def report(summary: list[dict[str, Any]], names: list[str]) -> str:
    """Markdown table of the summary."""
    lines = [
        "| transport | rows | variant | CPU/req ms (median) "
        f"| ratio to {names[0]} (median of rounds) | per-round ratios |",
        "|---|---|---|---|---|---|",
    ]
    for s in summary:
        cpu = "-" if s["cpu_ms"] is None else f"{s['cpu_ms']:.3f}"
        ratio = "-" if s["ratio"] is None else f"{s['ratio']:.3f}"
        lines.append(
            f"| {s['transport']} | {s['rows']} | {s['variant']} | {cpu} | {ratio} | "
            f"{', '.join(f'{x:.2f}' for x in s['ratios'])} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
