"""CPU time of a server process tree, read from /proc (Linux only)."""

from __future__ import annotations

import os
import threading
import time

_TICK = float(os.sysconf("SC_CLK_TCK"))


def _stat_fields(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read().decode()
    except OSError:
        return None
    # The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    return raw[raw.rindex(")") + 2 :].split()


def _children(pid: int) -> list[int]:
    """Direct children of ``pid`` (every thread's children list, so none is missed)."""
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                found.extend(int(c) for c in f.read().split())
        except OSError:
            continue
    return found


def tree_cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` and of every live descendant, plus reaped children's times.

    Live worker processes (``--workers N``) are counted through the tree walk; children that
    already exited are in the parent's cutime/cstime.
    """
    total = 0.0
    stack = [pid]
    seen: set[int] = set()
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        fields = _stat_fields(current)
        if fields is None:
            continue
        # After the command: state=0, ppid=1, ..., utime=11, stime=12, cutime=13, cstime=14.
        total += sum(int(v) for v in fields[11:15]) / _TICK
        stack.extend(_children(current))
    return total


class CpuSampler:
    """Samples a process tree's CPU seconds at a fixed period in a background thread.

    Used when the load generator reports only a rate (perf_analyzer): the server's CPU rate
    over the steady middle of the run, divided by the request rate, is CPU per request.
    """

    def __init__(self, pid: int, period: float = 0.1) -> None:
        self.pid = pid
        self.period = period
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> CpuSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.monotonic(), tree_cpu_seconds(self.pid)))
            self._stop.wait(self.period)
        self.samples.append((time.monotonic(), tree_cpu_seconds(self.pid)))

    def rate(self, start: float, end: float) -> float:
        """Mean CPU seconds per wall second between two monotonic times (nearest samples)."""
        inside = [s for s in self.samples if start <= s[0] <= end]
        if len(inside) < 2:
            raise RuntimeError("too few CPU samples in the window: run longer")
        (t0, c0), (t1, c1) = inside[0], inside[-1]
        return (c1 - c0) / (t1 - t0)


def machine_cpu_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, summed over all cores, from
    the first line of /proc/stat (busy = everything but idle and iowait).

    Two readings around a measurement give how many cores were busy during it, the
    benchmark's own processes included: a noise indicator for a shared machine.
    """
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    total = sum(values[:8])  # guest time is already inside user/nice
    idle = values[3] + values[4]
    return (total - idle) / _TICK, total / _TICK
