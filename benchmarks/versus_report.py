"""Ratios and tables of the side-by-side benchmark (``versus.py``): kernel / MLServer per
round and their medians, against the issue's goal."""

from __future__ import annotations

import statistics
from typing import TYPE_CHECKING, Any

import run

if TYPE_CHECKING:
    from versus import Target

#: The issue's goal: at least 4x MLServer's req/s at at most 1/4 of its CPU per request.
GOAL_RPS, GOAL_CPU = 4.0, 0.25
FIGURES = ("rps", "p50_ms", "p90_ms", "p99_ms", "server_cpu_per_req_ms")


def ratios(runs: list[dict[str, Any]], targets: list[Target]) -> list[dict[str, Any]]:
    """Per round kernel / MLServer for every pair of one set, and the median over rounds
    (a floor, ``versus.py --floors``, is paired like a kernel)."""
    by = {(r["target"], r["transport"], r["rows"], r["round"]): r for r in runs}
    combos = sorted({(r["transport"], r["rows"]) for r in runs}, key=lambda c: (c[1], c[0]))
    rounds = sorted({r["round"] for r in runs})
    pairs = [
        (k, m)
        for k in targets
        for m in targets
        if k.kind in ("kernel", "floor") and m.kind == "mlserver" and k.set == m.set
    ]
    out = []
    for k, m in pairs:
        for transport, rows in combos:
            per_round = []
            for round_ in rounds:
                a = by.get((k.key, transport, rows, round_))
                b = by.get((m.key, transport, rows, round_))
                if a is None or b is None or "error" in a or "error" in b:
                    continue
                per_round.append(
                    {f: a[f] / b[f] for f in FIGURES if a.get(f) and b.get(f)} | {"round": round_}
                )
            entry: dict[str, Any] = {
                "set": k.set,
                "kernel": k.name,
                "mlserver": m.name,
                "transport": transport,
                "rows": rows,
                "rounds": per_round,
            }
            if per_round:
                entry["median"] = {
                    f: float(statistics.median(r[f] for r in per_round))
                    for f in FIGURES
                    if all(f in r for r in per_round)
                }
                med = entry["median"]
                entry["goal_met"] = bool(
                    med.get("rps", 0) >= GOAL_RPS
                    and med.get("server_cpu_per_req_ms", 1) <= GOAL_CPU
                )
            out.append(entry)
    return out


def _batching_text(batching: dict[str, Any] | None) -> str:
    if not batching:
        return "off"
    return (
        f"max_batch_size {batching['max_batch_size']}, max_batch_time "
        f"{batching['max_batch_time']} s (both servers)"
    )


def markdown(report: dict[str, Any]) -> str:
    """The two tables: medians per server, and the ratios with their per-round values."""
    fmt = run._fmt  # the harness's number format
    lines = [
        f"client: built-in loadgen, concurrency {report['concurrency']}, "
        f"{report['duration_s']} s measured per row, {report['rounds']} round(s), "
        f"outputs {', '.join(report['outputs_requested'])}; load average "
        f"{report['machine']['loadavg_start'][0]:.1f} at start, "
        f"{report['machine']['loadavg_end'][0]:.1f} at end; adaptive batching "
        f"{_batching_text(report.get('batching'))}; gRPC channels "
        f"{report.get('grpc_channels', 1)}",
        "",
        "| set | server | transport | rows | req/s | p50 ms | p90 ms | p99 ms "
        "| server CPU/req ms | server CPU util | client CPU util | busy cores |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["results"]:
        set_, name = r["target"].split("/", 1)
        head = f"| {set_} | {name} | {r['transport']} | {r['rows']} "
        if "error" in r:
            lines.append(head + f"| error: {r['error'].splitlines()[0][:80]} ||||||||")
            continue
        lines.append(
            head + f"| {fmt(r['rps'])} | {fmt(r['p50_ms'])} | {fmt(r['p90_ms'])} "
            f"| {fmt(r['p99_ms'])} | {fmt(r['server_cpu_per_req_ms'])} "
            f"| {fmt(r['server_cpu_util'], 2)} | {fmt(r['client_cpu_util'], 2)} "
            f"| {fmt(r['machine_busy_cores'], 2)} |"
        )
    lines += [
        "",
        f"kernel / MLServer, median over rounds (per round in brackets); goal: req/s >= "
        f"{GOAL_RPS:g}, CPU/req <= {GOAL_CPU:g}",
        "",
        "| set | kernel | vs | transport | rows | req/s | CPU/req | p50 | p90 | p99 | goal |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for e in report["ratios"]:
        head = f"| {e['set']} | {e['kernel']} | {e['mlserver']} | {e['transport']} | {e['rows']} "
        if "median" not in e:
            lines.append(head + "| no complete round |||||")
            continue

        def cell(f: str, entry: dict[str, Any] = e) -> str:
            each = ", ".join(f"{r[f]:.2f}" for r in entry["rounds"] if f in r)
            return f"**{entry['median'][f]:.2f}** ({each})" if f in entry["median"] else "-"

        lines.append(
            head + f"| {cell('rps')} | {cell('server_cpu_per_req_ms')} | {cell('p50_ms')} "
            f"| {cell('p90_ms')} | {cell('p99_ms')} | {'met' if e['goal_met'] else 'not met'} |"
        )
    return "\n".join(lines)
