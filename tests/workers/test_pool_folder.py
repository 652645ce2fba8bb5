"""The pool's shared-memory folder does not outlive a pool owner killed with SIGKILL.

``/dev/shm`` is RAM: a folder left behind by every ``kill -9`` of a server would add up. The
next pool created on the machine sweeps the folders whose owner process is gone.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from worker_models import probe_model

from kernel.repository import scan
from kernel.workers.arena import shared_folder
from kernel.workers.pool import WorkerPool

# A pool owner in its own process: starts a pool of 2 real workers, prints its folder and the
# workers' pids, then waits to be killed.
OWNER = """
import sys, time
from pathlib import Path
from kernel.repository import scan
from kernel.workers.pool import WorkerPool
(source,) = scan(Path(sys.argv[1]))
pool = WorkerPool(source.settings, 2, sys.executable, "model 'probe'")
pool.start()
print(pool.folder, *pool.pids(), flush=True)
time.sleep(600)
"""


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def _wait(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_a_killed_owners_folder_is_swept_by_the_next_pool(tmp_path: Path) -> None:
    probe_model(tmp_path, "probe")
    owner = subprocess.Popen(
        [sys.executable, "-c", OWNER, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert owner.stdout is not None
        folder_name, *worker_pids = owner.stdout.readline().split()
    finally:
        owner.send_signal(signal.SIGKILL)
        owner.wait(30)
    folder = Path(folder_name)
    assert folder.is_dir()  # nobody could delete it
    # The workers notice their owner's socket closing and exit on their own.
    _wait(lambda: all(_gone(int(pid)) for pid in worker_pids), "workers outlived their owner")

    # A folder of a live owner (this test process) must survive the sweep.
    alive = shared_folder("kernel-pool-")
    try:
        (source,) = scan(tmp_path)
        assert source.settings is not None
        pool = WorkerPool(source.settings, 1, sys.executable, "model 'probe'")
        try:
            assert not folder.exists()
            assert alive.is_dir()
        finally:
            pool.close()
        assert not pool.folder.exists()
    finally:
        alive.rmdir()
