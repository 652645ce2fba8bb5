"""Side by side: kernel against MLServer 1.7.1, same model file, same payloads, alternating.

    /work/venv/bin/python benchmarks/versus.py [--rounds 3] [--duration 8] [--warmup 2]
        [--concurrency 8] [--rows 1,1000] [--transports rest,grpc] [--sets pinned,machine]
        [--mlserver-parallel-workers 1] [--kernel-http-servers auto] [--mlserver-debug]
        [--max-batch-size 0] [--max-batch-time 0.005] [--grpc-channels 1] [--floors thread]

Builds MLServer's virtualenv if missing (``mlserver_env.py``), writes one model repository
(the iris LogisticRegression, ``implementation: mlserver_sklearn.SKLearnModel``) that both
servers serve unchanged, starts every server, checks each answers like the model file does
(``answers.py``), then per round, rows and transport measures the kernel and MLServer servers
one after the other (the order flips every round) with the built-in closed-loop client
(``loadgen.py``: all-JSON REST bodies, gRPC ``raw_input_contents``). Two sets of servers:

- ``pinned``: every server on core 0 (MLServer's inference worker included), the client on
  core 1: ``kernel serve --workers 1`` against MLServer's defaults, one core each;
- ``machine``: nothing pinned: kernel's default ``--workers`` (one per core) against
  MLServer's defaults, client and servers sharing both cores.

``--floors thread,inline`` adds, to the pinned set, the floor of any server on kernel's transports:
``ceiling_model.py``, a bare hypercorn ASGI app / raw grpclib service that runs the same
scikit-learn methods on each request's rows (in the loop's thread pool, or inline) and answers
(REST: the outputs as V2 JSON; gRPC: a fixed reply of the right size). Its ratios to MLServer
bound what kernel, or any server built on hypercorn and grpclib, can reach against it.

Prints per-round ratios kernel / MLServer (req/s, latency percentiles, server CPU per request)
with their median, and writes ``benchmarks/results/versus-mlserver-<timestamp>.json``.
perf_analyzer is not used: it needs Triton's model-config endpoint, which MLServer lacks
(it exits with "failed to get model config"), and MLServer does not speak the binary
tensor extension it sends over REST.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import answers
import clients
import mlserver_env
import procstat
import run
import scenarios
import servers
import versus_report
import wire

from kernel.settings import available_cores

SERVER_CORE, CLIENT_CORE = 0, 1
#: What the load asks for: the two outputs both servers' scikit-learn runtimes compute.
OUTPUTS = tuple(o for o in wire.IRIS_OUTPUTS if o.name in ("predict", "predict_proba"))


@dataclass(frozen=True)
class Target:
    """One server configuration under test."""

    name: str
    kind: str  # "kernel" | "mlserver" | "floor"
    set: str  # "pinned" | "machine"
    workers: int | None = None  # kernel serve --workers; None: its default (one per core)
    http_server: str | None = None  # kernel serve --http-server; None: its default
    parallel_workers: int = 1  # MLServer's parallel_workers (its default is 1)
    threaded: bool = True  # floor: the model in the loop's thread pool (else inline)

    @property
    def key(self) -> str:
        return f"{self.set}/{self.name}"


def kernel_http_servers(choice: str) -> list[str | None]:
    """``auto``: hypercorn and uvicorn when kernel has the ``http_server`` setting and uvicorn
    is installed, else kernel's default only; otherwise a comma-separated list."""
    if choice != "auto":
        return [None if v == "default" else v for v in choice.split(",")]
    from kernel.settings import ServerSettings

    if "http_server" not in ServerSettings.__struct_fields__:
        return [None]
    if importlib.util.find_spec("uvicorn") is None:
        return [None]
    return ["hypercorn", "uvicorn"]


def plan_targets(args: argparse.Namespace) -> list[Target]:
    """Every server of every set, kernel and MLServer configurations interleaved."""
    http = kernel_http_servers(args.kernel_http_servers)
    pws = [int(v) for v in args.mlserver_parallel_workers.split(",")]
    targets: list[Target] = []
    for set_ in args.sets.split(","):
        workers = 1 if set_ == "pinned" else None
        label = "w1" if workers == 1 else "wdefault"
        kernels = [
            Target(f"kernel-{label}" + (f"-{h}" if h else ""), "kernel", set_, workers, h)
            for h in http
        ]
        mls = [Target(f"mlserver-pw{pw}", "mlserver", set_, parallel_workers=pw) for pw in pws]
        for i in range(max(len(kernels), len(mls))):
            targets += kernels[i : i + 1] + mls[i : i + 1]
        if set_ == "pinned":  # the floors are single processes, like kernel --workers 1
            targets += [
                Target(f"floor-{mode}", "floor", set_, threaded=mode == "thread")
                for mode in filter(None, args.floors.split(","))
            ]
    return targets


def server_key(target: Target, transport: str, rows: int) -> str:
    """Which started server measures ``target`` for one transport and row count: a floor
    has one per transport and size (its gRPC reply is pre-built for the rows)."""
    if target.kind == "floor":
        return f"{target.key}/{transport}/{rows}"
    return target.key


def build_server(
    target: Target,
    args: argparse.Namespace,
    root: Path,
    floor: tuple[str, int, Path] | None = None,
) -> servers.Server:
    """The (not started) server process for a target; a floor's for ``floor`` (transport,
    rows, the model file)."""
    core = SERVER_CORE if target.set == "pinned" else None
    name = target.key.replace("/", "-")
    if floor is not None:
        transport, rows, model = floor
        return servers.ceiling_with_model(
            transport, rows, str(model), OUTPUTS, target.threaded, core
        )
    if target.kind == "kernel":
        return servers.kernel(
            args.kernel_cmd or servers.default_kernel_command(),
            root / "models",
            core,
            target.workers,
            target.http_server,
            name=name,
        )
    return mlserver_env.server(
        args.mlserver_venv,
        root / "models",
        core,
        target.parallel_workers,
        args.mlserver_debug,
        root / name,
        name,
    )


def measure(target: Target, server: servers.Server, load: clients.Load) -> dict[str, Any]:
    """One closed-loop measurement, with the machine's busy cores and load around it."""
    busy0, total0 = procstat.machine_cpu_seconds()
    result = clients.run_builtin(load, server.pid)
    busy1, total1 = procstat.machine_cpu_seconds()
    cores = os.cpu_count() or 1
    result["machine_busy_cores"] = (busy1 - busy0) / (total1 - total0) * cores
    result["loadavg_1m"] = os.getloadavg()[0]
    if result.get("errors"):
        result["error"] = f"{result['errors']} failed request(s)"
    return result


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description="kernel vs MLServer 1.7.1, side by side")
    p.add_argument("--rounds", type=int, default=3, help="alternating rounds; medians reported")
    p.add_argument("--duration", type=float, default=8.0, help="measured seconds per row")
    p.add_argument("--warmup", type=float, default=2.0, help="seconds of load before measuring")
    p.add_argument("--concurrency", type=int, default=8, help="requests in flight")
    p.add_argument("--rows", default="1,1000", help="comma-separated rows per request")
    p.add_argument("--transports", default="rest,grpc")
    p.add_argument(
        "--sets",
        default="pinned,machine",
        help="pinned: servers on core 0, kernel --workers 1; machine: nothing pinned, "
        "kernel's default --workers",
    )
    p.add_argument(
        "--mlserver-parallel-workers",
        default="1",
        help="comma-separated MLServer parallel_workers values, one server each (1 is its "
        "default; 0 predicts in the server process)",
    )
    p.add_argument(
        "--kernel-http-servers",
        default="auto",
        help="comma-separated kernel --http-server values ('default': no flag); auto: "
        "hypercorn and uvicorn when kernel has the http_server setting",
    )
    p.add_argument(
        "--mlserver-debug",
        action="store_true",
        help="keep MLServer's default debug=true (access log per request); off by default",
    )
    p.add_argument(
        "--max-batch-size",
        type=int,
        default=0,
        help="adaptive batching for both servers: max_batch_size in the shared "
        "model-settings.json (0: off, both servers' default)",
    )
    p.add_argument(
        "--max-batch-time",
        type=float,
        default=0.005,
        help="max_batch_time (seconds) written with --max-batch-size",
    )
    p.add_argument(
        "--grpc-channels",
        type=int,
        default=1,
        help="gRPC channels (connections) the client spreads its calls over; 1 (default): one "
        "channel, so kernel --workers N serves all gRPC calls from one process",
    )
    p.add_argument(
        "--floors",
        default="",
        help="comma-separated: thread, inline; adds the bare app running the same model "
        "(ceiling_model.py) to the pinned set, the model in a thread pool or inline",
    )
    p.add_argument("--mlserver-venv", type=Path, default=mlserver_env.DEFAULT_VENV)
    p.add_argument("--kernel-cmd", default=None, help="command that runs the kernel CLI")
    p.add_argument("--output", type=Path, default=servers.HERE / "results")
    return p.parse_args(argv)


def _batching(args: argparse.Namespace) -> dict[str, float]:
    """The model-settings fields that turn adaptive batching on, or none."""
    if args.max_batch_size <= 1:
        return {}
    return {"max_batch_size": args.max_batch_size, "max_batch_time": args.max_batch_time}


def _kernel_versions() -> dict[str, str]:
    found = run._versions()  # the harness's version list
    for dist in ("kernel", "kernel-sklearn", "uvicorn", "httptools", "msgspec"):
        try:
            found[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return found


def _git_state() -> dict[str, Any]:
    """The commit kernel was measured at and whether src/ or plugins/ had local changes."""

    def git(*cmd: str) -> str:
        done = subprocess.run(
            ["git", *cmd], cwd=servers.HERE.parent, capture_output=True, text=True, check=False
        )
        return done.stdout.strip() if done.returncode == 0 else ""

    changed = git("status", "--porcelain", "--", "src", "plugins")
    return {"commit": git("rev-parse", "HEAD"), "uncommitted_changes": bool(changed)}


def main(argv: list[str] | None = None) -> int:
    """Run the side-by-side benchmark; exit status 1 if a server failed or a row errored."""
    args = parse_args(argv)
    if len(os.sched_getaffinity(0)) < 2 and "pinned" in args.sets:
        print("the pinned set needs 2 cores: use --sets machine", file=sys.stderr)
        return 2
    mlserver_versions = mlserver_env.ensure_venv(args.mlserver_venv)
    targets = plan_targets(args)
    rows_list = [int(v) for v in args.rows.split(",")]
    transports = args.transports.split(",")
    loadavg_start = os.getloadavg()
    runs: list[dict[str, Any]] = []
    started: dict[str, servers.Server] = {}
    with tempfile.TemporaryDirectory(prefix="kernel-versus-") as tmp:
        root = Path(tmp)
        model_path = mlserver_env.write_repository(root / "models", _batching(args))
        names = [o.name for o in OUTPUTS]
        model_ms = {r: scenarios.sklearn_cpu_ms(model_path, r, names) for r in rows_list}
        try:
            for target in targets:
                print(f"... {time.strftime('%H:%M:%S')} starting {target.key}", file=sys.stderr)
                if target.kind == "floor":  # no answers to check: gRPC replies are fixed
                    for rows in rows_list:
                        for transport in transports:
                            server = build_server(target, args, root, (transport, rows, model_path))
                            server.start(root)
                            started[server_key(target, transport, rows)] = server
                            server.wait_ready(timeout=180)
                    continue
                server = build_server(target, args, root)
                server.start(root)
                started[target.key] = server
                server.wait_ready(timeout=180)
                answers.check(server, model_path, OUTPUTS)
            for round_ in range(args.rounds):
                for set_ in dict.fromkeys(t.set for t in targets):
                    group = [t for t in targets if t.set == set_]
                    # Flip the order every round so neither server always goes first.
                    order = group if round_ % 2 == 0 else group[::-1]
                    for rows in rows_list:
                        for transport in transports:
                            for target in order:
                                server = started[server_key(target, transport, rows)]
                                runs.append(_one(target, server, args, round_, rows, transport))
        except (RuntimeError, OSError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        finally:
            for server in started.values():
                server.stop()
    report = {
        "timestamp": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "mode": "versus-mlserver",
        "client": "builtin",
        "rest_format": "json",
        "concurrency": args.concurrency,
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "rounds": args.rounds,
        "pinning": {
            "pinned": f"servers core {SERVER_CORE}, client core {CLIENT_CORE}",
            "machine": "none",
        },
        "targets": [asdict(t) for t in targets],
        "batching": _batching(args),
        "grpc_channels": args.grpc_channels,
        "floors": args.floors,
        "mlserver_settings": {"debug": args.mlserver_debug, "other": "MLServer's defaults"},
        "kernel_default_workers": available_cores(),
        "outputs_requested": names,
        "model_cpu_ms": model_ms,
        "machine": {
            "cpus": os.cpu_count(),
            "cpu_model": run._cpu_model(),
            "python": platform.python_version(),
            "loadavg_start": loadavg_start,
            "loadavg_end": os.getloadavg(),
        },
        "versions": {"kernel_side": _kernel_versions(), "mlserver_side": mlserver_versions},
        "kernel_git": _git_state(),
        "runs": runs,
        "results": run.combine(runs),
        "ratios": versus_report.ratios(runs, targets),
    }
    args.output.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    out = args.output / f"versus-mlserver-{stamp}.json"
    out.write_text(json.dumps(report, indent=2))
    print(versus_report.markdown(report))
    print(f"\nwritten: {out}")
    return 1 if any("error" in r for r in report["results"]) else 0


def _one(
    target: Target,
    server: servers.Server,
    args: argparse.Namespace,
    round_: int,
    rows: int,
    transport: str,
) -> dict[str, Any]:
    """One measured row, its error recorded instead of raised."""
    print(
        f"... {time.strftime('%H:%M:%S')} round {round_ + 1}/{args.rounds}: "
        f"{target.key} {transport} {rows} row(s)",
        file=sys.stderr,
    )
    entry: dict[str, Any] = {
        "target": target.key,
        "transport": transport,
        "rows": rows,
        "round": round_,
    }
    load = clients.load_for(
        server,
        transport,
        rows,
        args,
        CLIENT_CORE if target.set == "pinned" else None,
        OUTPUTS,
        rest_format="json",
        grpc_channels=args.grpc_channels,
    )
    try:
        entry.update(measure(target, server, load))
    except (RuntimeError, OSError, ValueError, KeyError) as exc:
        entry["error"] = f"{exc}\n{server.log_tail(10)}"
    return entry


if __name__ == "__main__":
    sys.exit(main())
