"""A pool of worker processes serving one model version, and the processes' lifecycle.

``WorkerPool`` starts ``replicas`` worker processes and replaces any that dies. Used on its own
(one server process, ``kernel serve --workers 1`` or an embedded ``Kernel``), it dispatches
requests to them itself (``Dispatcher``: least-busy worker, deadlines). Under the supervisor
(``shared=True``) it only keeps the processes running: each worker also listens on
``<folder>/w<j>.sock`` and the server processes connect to it (``kernel.workers.shared``),
coordinating through the pool table (``kernel.workers.table``), which this pool keeps up to
date (which worker of each replica is ready, and how the last one died).
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from pathlib import Path
from typing import Final

from kernel.errors import DeadlineExceeded, ModelNotReady
from kernel.model_settings import ModelSettings
from kernel.workers.arena import Arena, Mapped, shared_folder
from kernel.workers.dispatch import Dispatcher
from kernel.workers.link import Link
from kernel.workers.messages import Loaded
from kernel.workers.process import WorkerProcess
from kernel.workers.table import PoolTable

__all__ = ["TABLE", "WorkerPool", "socket_path"]

logger = logging.getLogger("kernel.workers")

#: Seconds a worker may take to start and load its model.
LOAD_TIMEOUT: Final = 600.0
#: Seconds a closing worker gets to unload before it is killed.
CLOSE_GRACE: Final = 10.0
#: Seconds a request without a deadline waits for a ready worker while workers are replaced.
READY_WAIT: Final = 60.0
#: Seconds between attempts to replace a worker whose replacement failed to load.
RETRY_DELAY: Final = 2.0
#: The pool table's file name in a shared pool's folder.
TABLE: Final = "table"


def check_waiting(label: str, deadline: float, give_up: float, now: float) -> None:
    """Raise when a caller waiting for a ready worker must stop: its ``deadline`` passed, or
    (without one) ``READY_WAIT`` went by with every worker still starting."""
    if deadline and deadline <= now:
        raise DeadlineExceeded(f"{label}: no worker became ready before the request's deadline")
    if not deadline and give_up <= now:
        raise ModelNotReady(
            f"{label}: no worker process is ready (replacements are starting; see the server log)"
        )


def socket_path(folder: Path, replica: int) -> Path:
    """Where replica ``replica`` of a shared pool listens for server processes."""
    return folder / f"w{replica}.sock"


class WorkerPool(Dispatcher):
    """``replicas`` worker processes running ``python`` (an interpreter path).

    ``shared``: the workers listen for other processes, and ``clients`` rows of the pool
    table are kept for them (see the module docstring).
    """

    def __init__(
        self,
        settings: ModelSettings,
        replicas: int,
        python: str,
        label: str,
        *,
        shared: bool = False,
        clients: int = 0,
    ) -> None:
        folder = shared_folder("kernel-pool-")
        super().__init__(settings, label, Arena(folder, "p-"), Mapped(folder))
        self.replicas = replicas
        self.python = python
        self.folder = folder
        self.table = PoolTable(folder / TABLE, replicas, clients, create=True) if shared else None
        self.workers: list[WorkerProcess] = []
        self.loaded: Loaded | None = None
        self.replaced = 0
        self._cond = threading.Condition()
        self._closed = False
        #: Replacements being started, so that ``close`` can stop them.
        self._starting: set[WorkerProcess] = set()
        self._replacing: list[threading.Thread] = []

    # --- lifecycle ---------------------------------------------------------------------------

    def _new_worker(self, replica: int) -> WorkerProcess:
        if self.table is None:
            return WorkerProcess(self.label, self.python, self.folder, self.arena, self._exited)
        listen = socket_path(self.folder, replica)
        listen.unlink(missing_ok=True)  # a dead predecessor's
        return WorkerProcess(
            self.label,
            self.python,
            self.folder,
            self.arena,
            self._exited,
            status=(self.table.path, self.table.running_offset(replica)),
            listen=str(listen),
        )

    def _started(self, replica: int, worker: WorkerProcess) -> None:
        if self.table is not None:
            self.table.set_ready(replica, worker.pid)

    def start(self) -> None:
        """Start every replica and load the model in each, in parallel; blocks.

        Raises ``ModelLoadError`` with the first failing worker's reason (and stops the rest).
        """
        workers = [self._new_worker(j) for j in range(self.replicas)]
        errors: list[BaseException] = []

        def run(replica: int, worker: WorkerProcess) -> None:
            try:
                worker.start(self.settings, LOAD_TIMEOUT)
                self._started(replica, worker)
            except BaseException as exc:
                errors.append(exc)

        with self._cond:
            self.workers = workers  # before any can die, so that a death is replaced
        threads = [threading.Thread(target=run, args=(j, w)) for j, w in enumerate(workers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            self.close()
            raise errors[0]
        self.loaded = workers[0].loaded
        logger.info(
            "%s: %d worker process(es) ready (pids %s) with %s",
            self.label,
            len(workers),
            ", ".join(str(w.pid) for w in workers),
            self.python,
        )

    def _exited(self, worker: WorkerProcess) -> None:
        """Called by a worker's reader thread once it has died: start its replacement."""
        self.mapped.forget(f"w{worker.pid}-")
        for stale in self.folder.glob(f"w{worker.pid}-*"):
            stale.unlink(missing_ok=True)
        with self._cond:
            if self._closed or worker not in self.workers:
                return
            replica = self.workers.index(worker)
        if self.table is not None:
            self.table.set_ready(replica, 0)
            code = worker.returncode
            self.table.set_exit(replica, worker.pid, -9 if code is None else code)
        logger.error(
            "%s: worker process %d died (%s); replacing it",
            self.label,
            worker.pid,
            worker.reason(),
        )
        thread = threading.Thread(target=self._replace, args=(worker,), daemon=True)
        with self._cond:
            self._replacing = [t for t in self._replacing if t.is_alive()]
            self._replacing.append(thread)
        thread.start()

    def _replace(self, old: WorkerProcess) -> None:
        while True:
            with self._cond:
                if self._closed:
                    return
                replica = self.workers.index(old)
                fresh = self._new_worker(replica)
                self._starting.add(fresh)
            try:
                fresh.start(self.settings, LOAD_TIMEOUT)
            except Exception as exc:
                with self._cond:
                    self._starting.discard(fresh)
                    if self._closed:
                        return
                logger.error("%s: replacing worker %d failed: %s", self.label, old.pid, exc)
                time.sleep(RETRY_DELAY)
                continue
            with self._cond:
                self._starting.discard(fresh)
                if self._closed:
                    break
                self.workers[replica] = fresh
                self._started(replica, fresh)
                self.replaced += 1
                self._cond.notify_all()
            logger.info("%s: worker %d replaced by %d", self.label, old.pid, fresh.pid)
            old.close(0)
            return
        fresh.close(CLOSE_GRACE)

    def close(self) -> None:
        """Unload the model in every worker, stop them and delete the shared segments."""
        with self._cond:
            self._closed = True
            workers = list(self.workers)
            starting, replacing = list(self._starting), list(self._replacing)
            self._cond.notify_all()
        for worker in starting:
            worker.kill("the model is unloading")
        for thread in replacing:
            thread.join(CLOSE_GRACE)
        threads = [threading.Thread(target=w.close, args=(CLOSE_GRACE,)) for w in workers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.arena.close()
        self.mapped.forget("")
        if self.table is not None:
            self.table.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    def pids(self) -> list[int]:
        with self._cond:
            return [w.pid for w in self.workers]

    # --- requests ----------------------------------------------------------------------------

    def _pick(self, deadline: float) -> Link:
        """The ready worker with the fewest calls in flight; waits while none is ready (until
        the deadline, or ``READY_WAIT`` without one)."""
        give_up = time.monotonic() + READY_WAIT
        with self._cond:
            while True:
                if self._closed:
                    raise ModelNotReady(f"{self.label} is unloading")
                ready = [w for w in self.workers if w.ready]
                if ready:
                    worker = min(ready, key=lambda w: w.inflight)
                    worker.inflight += 1
                    return worker
                now = time.monotonic()
                check_waiting(self.label, deadline, give_up, now)
                self._cond.wait((deadline or give_up) - now)

    def _done(self, link: Link) -> None:
        with self._cond:
            link.inflight -= 1

    def _running(self, link: Link) -> int:
        assert isinstance(link, WorkerProcess)
        return link.running()
