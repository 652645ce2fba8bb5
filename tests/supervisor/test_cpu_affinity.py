"""``cpu_affinity``: each server process on a core of its own when there is one per process."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from supervised import children, infer, pid_of, write_pid_model

from kernel.affinity import cpu_quota, only, plan

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))
from server_process import Server, kernel_command, serve

CORES = sorted(os.sched_getaffinity(0))


def test_auto_pins_one_process_per_core_only_when_the_counts_match() -> None:
    assert plan("auto", 2, [4, 7]) == [4, 7]
    assert plan("auto", 1, [3]) == [3]
    assert plan("auto", 2, [0, 1, 2, 3]) == [None, None]  # fewer processes than cores
    assert plan("auto", 3, [0, 1]) == [None, None, None]  # more processes than cores
    assert plan("auto", 1, [0, 1]) == [None]


def test_on_pins_round_robin_and_off_never_pins() -> None:
    assert plan("on", 3, [0, 1]) == [0, 1, 0]
    assert plan("on", 1, [2, 5]) == [2]
    assert plan("off", 2, [0, 1]) == [None, None]
    assert plan("on", 2, []) == [None, None]


@contextlib.contextmanager
def _serve_on(cores: set[int], models: Path, logs: Path, *options: str) -> Iterator[Server]:
    """``kernel serve --workers len(cores)`` started with only ``cores`` allowed."""
    with only(cores), serve(models, logs, workers=len(cores), options=options) as server:
        yield server


needs_two = pytest.mark.skipif(len(CORES) < 2, reason="needs 2 cores")


@needs_two
@pytest.mark.e2e
def test_two_processes_on_two_cores_get_one_core_each(models: Path, tmp_path: Path) -> None:
    two = set(CORES[:2])
    with _serve_on(two, models, tmp_path) as server:
        workers = children(server.process.pid)
        assert len(workers) == 2
        masks = [os.sched_getaffinity(pid) for pid in workers]
        assert sorted(mask for mask_set in masks for mask in mask_set) == sorted(two)
        assert all(len(mask) == 1 for mask in masks)
        # The supervisor itself is not pinned, and both pinned processes serve.
        assert os.sched_getaffinity(server.process.pid) == two
        assert pid_of(infer(server.http_url, "pid")) in workers


@needs_two
@pytest.mark.e2e
def test_off_leaves_every_process_on_all_its_cores(models: Path, tmp_path: Path) -> None:
    two = set(CORES[:2])
    with _serve_on(two, models, tmp_path, "--cpu-affinity", "off") as server:
        workers = children(server.process.pid)
        assert len(workers) == 2
        assert [os.sched_getaffinity(pid) for pid in workers] == [two, two]


@needs_two
@pytest.mark.e2e
def test_on_pins_a_single_process_but_not_its_worker_pool(tmp_path: Path) -> None:
    two = set(CORES[:2])
    models = tmp_path / "models"
    write_pid_model(models / "pid")
    pooled = write_pid_model(models / "pooled")
    settings = json.loads((pooled / "model-settings.json").read_text())
    (pooled / "model-settings.json").write_text(json.dumps(settings | {"parallel_workers": 1}))
    logs = tmp_path / "logs"
    with only(two), serve(models, logs, options=["--cpu-affinity", "on"]) as server:
        assert os.sched_getaffinity(server.process.pid) == {min(two)}
        assert pid_of(infer(server.http_url, "pid")) == server.process.pid
        # The pool's process, started by the pinned server, has every core the server had.
        worker = pid_of(infer(server.http_url, "pooled"))
        assert worker in children(server.process.pid)
        assert os.sched_getaffinity(worker) == two


def _cgroup(root: Path, membership: str, files: dict[str, str]) -> tuple[Path, Path]:
    """A fake /sys/fs/cgroup under ``root`` and a /proc/self/cgroup naming the groups."""
    for relative, text in files.items():
        path = root / "fs" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (root / "fs").mkdir(exist_ok=True)
    (root / "cgroup").write_text(membership)
    return root / "fs", root / "cgroup"


@pytest.mark.parametrize(
    ("membership", "files", "cores"),
    [
        ("0::/\n", {"cpu.max": "max 100000\n"}, None),  # v2, no limit
        ("0::/\n", {"cpu.max": "150000 100000\n"}, 1.5),  # v2 in a container's namespace
        # v2 on the host: the process's own group, and the tighter limit of a parent
        ("0::/pods/a\n", {"pods/a/cpu.max": "400000 100000", "pods/cpu.max": "200000 100000"}, 2),
        # v1 seen from inside a Docker container: host path in membership, files at the root
        (
            "2:cpu,cpuacct:/docker/0123\n1:memory:/docker/0123\n",
            {"cpu,cpuacct/cpu.cfs_quota_us": "50000", "cpu,cpuacct/cpu.cfs_period_us": "100000"},
            0.5,
        ),
        ("1:cpu:/\n", {"cpu/cpu.cfs_quota_us": "-1", "cpu/cpu.cfs_period_us": "100000"}, None),
        ("0::/\n", {}, None),  # no cpu controller files at all
    ],
)
def test_cpu_quota_reads_cgroup_v1_and_v2_limits(
    tmp_path: Path, membership: str, files: dict[str, str], cores: float | None
) -> None:
    root, proc = _cgroup(tmp_path, membership, files)
    assert cpu_quota(root, proc) == cores


@contextlib.contextmanager
def _cpu_limited_group(cores: float) -> Iterator[Path]:
    """A real cgroup (v1 ``cpu`` hierarchy) limited to ``cores`` of CPU time, removed after."""
    base = Path("/sys/fs/cgroup/cpu")
    group = base / f"kernel-test-{os.getpid()}"
    try:
        group.mkdir()
        (group / "cpu.cfs_period_us").write_text("100000")
        (group / "cpu.cfs_quota_us").write_text(str(int(cores * 100000)))
    except OSError as exc:
        with contextlib.suppress(OSError):
            group.rmdir()
        pytest.skip(f"cannot create a cgroup with a CPU limit here: {exc}")
    try:
        yield group
    finally:
        group.rmdir()


@needs_two
@pytest.mark.e2e
def test_kernel_serve_under_a_one_core_limit_runs_one_process(models: Path, tmp_path: Path) -> None:
    with _cpu_limited_group(1.0) as group:
        # The shell joins the group, then becomes `kernel` (same pid), so the server starts in it.
        enter = ["sh", "-c", f'echo $$ > {group}/cgroup.procs && exec "$0" "$@"']
        with serve(models, tmp_path, workers=None, kernel=[*enter, *kernel_command()]) as server:
            assert children(server.process.pid) == set()  # --workers defaulted to 1
            assert pid_of(infer(server.http_url, "pid")) == server.process.pid
