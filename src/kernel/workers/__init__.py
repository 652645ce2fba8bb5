"""Worker pools: models that run in their own processes, optionally in another Python
environment, reached over shared memory (tensor bytes) and msgspec frames (everything else).

See docs/workers.md.
"""

from __future__ import annotations

from kernel.workers.pool import WorkerPool
from kernel.workers.runtime import PooledRuntime, client_timeout, runs_in_workers, worker_python

__all__ = ["PooledRuntime", "WorkerPool", "client_timeout", "runs_in_workers", "worker_python"]
