"""A shared pool without a server: the owner's ``WorkerPool(shared=True)`` and two clients
(``SharedPool``, one per table row, as two server processes would hold), with real worker
processes. ``tests/supervisor/test_shared_pools.py`` drives the same through ``kernel serve``."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from worker_models import output, pid_of, probe_model, request

from kernel.errors import DeadlineExceeded, InferenceError
from kernel.model_settings import ModelSettings
from kernel.repository import scan
from kernel.workers.broker import Grant
from kernel.workers.pool import WorkerPool
from kernel.workers.shared import SharedPool


def settings_of(root: Path, name: str) -> ModelSettings:
    (source,) = [s for s in scan(root) if s.name == name]
    assert source.settings is not None
    return source.settings


@pytest.fixture(scope="module")
def owner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerPool]:
    root = tmp_path_factory.mktemp("shared-pool")
    probe_model(root, "pair", parallel_workers=2)
    settings = settings_of(root, "pair")
    pool = WorkerPool(settings, 2, sys.executable, "model 'pair'", shared=True, clients=4)
    pool.start()
    yield pool
    pool.close()
    assert not pool.folder.exists()


def client(owner: WorkerPool, row: int) -> SharedPool:
    assert owner.loaded is not None
    grant = Grant(1, str(owner.folder), row, owner.loaded)
    return SharedPool(owner.settings, owner.label, grant)


def test_large_tensors_and_bytes_through_a_shared_worker(owner: WorkerPool) -> None:
    first = client(owner, 0)
    try:
        x = np.random.default_rng(1).random((1000, 1000), dtype=np.float32)
        response = first.infer(request(x), 0.0)
        assert np.array_equal(output(response, "y"), x)
        assert pid_of(response) in owner.pids()
        words = np.array([b"", b"a\x00b", b"x" * 70_000], dtype=object)
        assert output(first.infer(request(words), 0.0), "y").tolist() == words.tolist()
        # The input went through this client's own arena in the pool's folder.
        assert list(owner.folder.glob(f"c{os.getpid()}-0-*"))
    finally:
        first.close()
    assert not list(owner.folder.glob(f"c{os.getpid()}-0-*"))


def test_least_busy_counts_every_client(owner: WorkerPool) -> None:
    """Client 0 keeps one worker busy; client 1, whose own count is zero everywhere, still
    sends everything to the other worker, because it reads client 0's row too."""
    first, second = client(owner, 0), client(owner, 1)
    try:
        with ThreadPoolExecutor(2) as threads:
            short = threads.submit(first.infer, request([1.0], sleep=0.6), 0.0)
            time.sleep(0.2)
            long = threads.submit(first.infer, request([1.0], sleep=3.0), 0.0)
            busy = pid_of(short.result())
            # Client 1 prefers (on ties) the worker client 0's long call holds.
            quick = [pid_of(second.infer(request([2.0]), 0.0)) for _ in range(4)]
            held = pid_of(long.result())
        assert held != busy
        assert set(quick) == {busy}
    finally:
        first.close()
        second.close()


def test_deadline_kills_the_shared_worker_and_a_killed_worker_is_reported(
    owner: WorkerPool,
) -> None:
    first, second = client(owner, 0), client(owner, 1)
    try:
        before = set(owner.pids())
        count = owner.replaced
        with pytest.raises(DeadlineExceeded, match="deadline"):
            first.infer(request([1.0], sleep=30.0), 0.5)
        give_up = time.monotonic() + 60
        while owner.replaced < count + 1 or 0 in first.pids():
            assert time.monotonic() < give_up
            time.sleep(0.05)
        assert len(set(owner.pids()) - before) == 1
        # A worker killed from outside: the client running a call on it is told how it died.
        with ThreadPoolExecutor(1) as threads:
            doomed = threads.submit(second.infer, request([1.0], sleep=10.0), 0.0)
            time.sleep(0.5)
            table = owner.table
            assert table is not None
            # The table says which worker runs the call.
            (running,) = [pid for j, pid in enumerate(owner.pids()) if table.running(j)]
            os.kill(running, signal.SIGKILL)
            message = rf"worker process {running} died \(killed by SIGKILL\)"
            with pytest.raises(InferenceError, match=message):
                doomed.result()
        # Both clients are served on (by the survivor, then by the replacement as well).
        assert pid_of(first.infer(request([3.0]), 20.0)) in owner.pids()
        assert pid_of(second.infer(request([3.0]), 20.0)) in owner.pids()
    finally:
        first.close()
        second.close()
