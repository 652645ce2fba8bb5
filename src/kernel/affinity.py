"""Which CPU each server process runs on (the ``cpu_affinity`` setting).

A server process runs its event loop in one thread and runtime calls in others, and the two hand
the GIL back and forth on every request, many times per predict when numpy releases it around
larger operations. When the operating system places those threads on different cores, each hand-off
is a cross-core wake-up with cold caches: measured on a 2-core box (benchmarks/README.md), one
process left free to use both cores spent 1.55x the CPU per request of the same process confined
to one core for 1,000-row gRPC requests, and 1.17x for 1-row JSON ones. So when every process can
have a core of its own, each is given one.

- ``auto`` (default): pin worker ``i`` to the ``i``-th core of the cores the server may use, only
  when there are exactly as many server processes as cores. Then each gets one core, no two share
  one, and no core is left out; in any other case nothing is pinned, so a server sharing a
  machine (``--workers 2`` on a 64-core host) never piles its processes onto the first cores.
- ``on``: pin worker ``i`` to core ``i`` modulo the number of cores, whatever the counts; a single
  process (``--workers 1``) goes on the first core.
- ``off``: leave placement to the operating system.

Pinning is applied in each server process before it starts its threads, which inherit it.
Threads a native library started at import (OpenBLAS's pool) keep the full set: large matrix
products still spread over the machine. Worker-pool processes are started ``unpinned``.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Literal

__all__ = [
    "Mode",
    "allowed_cores",
    "cpu_quota",
    "only",
    "pin",
    "plan",
    "unpinned",
    "usable_cores",
]

Mode = Literal["auto", "on", "off"]

#: The cores this process had before ``pin`` (None: it was never pinned).
_before: set[int] | None = None


def allowed_cores() -> list[int]:
    """The cores this process may run on, in order."""
    return sorted(os.sched_getaffinity(0))


def usable_cores() -> int:
    """How many cores' worth of CPU this process can use: its affinity mask, bounded by a
    cgroup CPU quota (a container's CPU limit) rounded up; at least 1."""
    cores = len(os.sched_getaffinity(0))
    quota = cpu_quota()
    return max(1, cores if quota is None else min(cores, math.ceil(quota)))


def cpu_quota(
    root: Path = Path("/sys/fs/cgroup"), membership: Path = Path("/proc/self/cgroup")
) -> float | None:
    """The CPU time this process's cgroups allow, in cores (None: no limit).

    cgroup v2 (``cpu.max``: ``"max 100000"`` or ``"200000 100000"``), from the process's own
    cgroup up to the root, and cgroup v1 (``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``, -1: no
    limit) in its ``cpu`` hierarchy; the smallest limit found.
    """
    try:
        lines = membership.read_text().splitlines()
    except OSError:
        return None
    limits: list[float] = []
    for line in lines:
        _, controllers, path = line.split(":", 2)
        relative = path.lstrip("/")
        if not controllers:  # the v2 hierarchy
            folder = root / relative
            while True:
                limits += _v2_limit(folder / "cpu.max")
                if folder == root or root not in folder.parents:
                    break
                folder = folder.parent
        elif "cpu" in controllers.split(","):
            # Docker on cgroup v1 mounts the container's own group at the hierarchy's root,
            # while /proc/self/cgroup still names its path on the host: look at both.
            for base in dict.fromkeys((root / controllers, root / "cpu")):
                for folder in dict.fromkeys((base / relative, base)):
                    limits += _v1_limit(folder)
    return min(limits) if limits else None


def _v2_limit(path: Path) -> list[float]:
    try:
        quota, period = path.read_text().split()
        return [] if quota == "max" else [int(quota) / int(period)]
    except (OSError, ValueError):
        return []


def _v1_limit(folder: Path) -> list[float]:
    try:
        quota = int((folder / "cpu.cfs_quota_us").read_text())
        period = int((folder / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return []
    return [quota / period] if quota > 0 and period > 0 else []


def plan(mode: Mode, workers: int, cores: Sequence[int]) -> list[int | None]:
    """The core of each of ``workers`` server processes (None: not pinned)."""
    if not cores or mode == "off" or (mode == "auto" and workers != len(cores)):
        return [None] * workers
    return [cores[i % len(cores)] for i in range(workers)]


def pin(core: int) -> None:
    """Confine the calling thread, and every thread it starts from now on, to ``core``."""
    global _before
    if _before is None:
        _before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {core})


@contextlib.contextmanager
def only(cores: set[int]) -> Iterator[None]:
    """Within the block, the calling thread runs on ``cores``; a process it starts inherits them.
    Other threads keep their own set, and the thread gets its own back after the block."""
    mine = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cores)
    try:
        yield
    finally:
        os.sched_setaffinity(0, mine)


def unpinned() -> contextlib.AbstractContextManager[None]:
    """Within the block, the calling thread has the cores the process had before ``pin``.

    A process started from here inherits them: a worker pool's processes are not confined to
    the core of the server process that starts them.
    """
    return contextlib.nullcontext() if _before is None else only(_before)
