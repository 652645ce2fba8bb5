"""A pool of worker processes serving one model version.

``infer`` (blocking; the kernel calls it from its executor) packs the request's tensors into a
shared segment, sends a small ``Call`` to the least-busy ready worker (fewest calls in flight)
and waits for the answer, until the request's deadline. A worker that dies is replaced; its
calls in flight fail with ``InferenceError``. A call past its deadline fails with
``DeadlineExceeded``; if its worker is still running it, that worker is killed and replaced so
it is never left wedged.
"""

from __future__ import annotations

import ctypes
import itertools
import logging
import shutil
import threading
import time
import weakref
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, Final

from kernel.errors import BadRequest, DeadlineExceeded, InferenceError, ModelNotReady
from kernel.model_settings import ModelSettings
from kernel.workers.arena import Arena, Mapped, shared_folder
from kernel.workers.messages import Call, Failure, Loaded, TensorRef
from kernel.workers.process import Pending, WorkerProcess
from kernel.workers.tensors import Tensor, pack, unpack
from protocol.errors import ProtocolError
from protocol.messages import UNSET, InferenceRequest, InferenceResponse, ResponseOutput

__all__ = ["WorkerPool"]

logger = logging.getLogger("kernel.workers")

#: Seconds a worker may take to start and load its model.
LOAD_TIMEOUT: Final = 600.0
#: Seconds a closing worker gets to unload before it is killed.
CLOSE_GRACE: Final = 10.0
#: Seconds a request without a deadline waits for a ready worker while workers are replaced.
READY_WAIT: Final = 60.0
#: Seconds between attempts to replace a worker whose replacement failed to load.
RETRY_DELAY: Final = 2.0

_ERRORS: Final[dict[str, type[Exception]]] = {
    "protocol": ProtocolError,
    "bad_request": BadRequest,
    "not_ready": ModelNotReady,
    "deadline": DeadlineExceeded,
}


class WorkerPool:
    """``replicas`` worker processes running ``python`` (an interpreter path)."""

    def __init__(self, settings: ModelSettings, replicas: int, python: str, label: str) -> None:
        self.settings = settings
        self.replicas = replicas
        self.python = python
        self.label = label
        self.folder = shared_folder("kernel-pool-")
        self.arena = Arena(self.folder, "p-")
        self.mapped = Mapped(self.folder)
        self.workers: list[WorkerProcess] = []
        self.loaded: Loaded | None = None
        self.replaced = 0
        self._ids = itertools.count(1)
        self._cond = threading.Condition()
        self._closed = False
        #: Replacements being started, so that ``close`` can stop them.
        self._starting: set[WorkerProcess] = set()
        self._replacing: list[threading.Thread] = []

    # --- lifecycle ---------------------------------------------------------------------------

    def _new_worker(self) -> WorkerProcess:
        return WorkerProcess(self.label, self.python, self.folder, self.arena, self._exited)

    def start(self) -> None:
        """Start every replica and load the model in each, in parallel; blocks.

        Raises ``ModelLoadError`` with the first failing worker's reason (and stops the rest).
        """
        workers = [self._new_worker() for _ in range(self.replicas)]
        errors: list[BaseException] = []

        def run(worker: WorkerProcess) -> None:
            try:
                worker.start(self.settings, LOAD_TIMEOUT)
            except BaseException as exc:
                errors.append(exc)

        with self._cond:
            self.workers = workers  # before any can die, so that a death is replaced
        threads = [threading.Thread(target=run, args=(w,)) for w in workers]
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
        logger.error(
            "%s: worker process %d died (%s); replacing it",
            self.label,
            worker.pid,
            worker.exit_note or worker._exit_reason(),
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
                fresh = self._new_worker()
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
                self.workers[self.workers.index(old)] = fresh
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
        shutil.rmtree(self.folder, ignore_errors=True)

    def pids(self) -> list[int]:
        with self._cond:
            return [w.pid for w in self.workers]

    # --- requests ----------------------------------------------------------------------------

    def _pick(self, deadline: float) -> WorkerProcess:
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
                if deadline and deadline <= now:
                    raise DeadlineExceeded(
                        f"{self.label}: no worker became ready before the request's deadline"
                    )
                if not deadline and give_up <= now:
                    raise ModelNotReady(
                        f"{self.label}: no worker process is ready (replacements are starting;"
                        " see the server log)"
                    )
                self._cond.wait((deadline or give_up) - now)

    def infer(self, request: InferenceRequest, timeout: float) -> InferenceResponse:
        """Run ``request`` on a worker; ``timeout`` seconds (0: none) bound the whole call."""
        deadline = time.monotonic() + timeout if timeout else 0.0
        tensors: list[Tensor] = [
            (i.name, i.shape, i.datatype, None if i.parameters is UNSET else i.parameters, i.data)
            for i in request.inputs
        ]
        refs, segment = pack(tensors, self.arena)
        outputs = None
        if request.outputs is not UNSET:
            outputs = [
                (o.name, None if o.parameters is UNSET else o.parameters) for o in request.outputs
            ]
        call = Call(
            next(self._ids),
            refs,
            segment.name if segment else "",
            deadline,
            None if request.id is UNSET else request.id,
            None if request.parameters is UNSET else request.parameters,
            outputs,
        )
        try:
            worker = self._pick(deadline)
        except BaseException:
            if segment is not None:
                self.arena.release(segment)
            raise
        pending = Pending(segment)
        try:
            worker.send(call, pending)
            wait = None if not deadline else max(deadline - time.monotonic(), 0.0)
            try:
                answer = pending.future.result(wait)
            except FutureTimeout:
                raise self._expired(worker, call) from None
        finally:
            with self._cond:
                worker.inflight -= 1
        if isinstance(answer, Failure):
            raise self._failure(answer)
        return self._response(worker, request, answer.outputs, answer.segment, answer.parameters)

    def _expired(self, worker: WorkerProcess, call: Call) -> DeadlineExceeded:
        pending = worker.take(call.id)
        if pending is not None:
            if worker.running() == call.id:
                # Still running: the worker is wedged on a request nobody waits for any more.
                worker.kill(f"killed after request {call.id} passed its deadline")
            # Safe to reuse now: a worker checks the deadline before it reads any input.
            if pending.segment is not None:
                self.arena.release(pending.segment)
        return DeadlineExceeded(f"{self.label}: the request did not finish before its deadline")

    def _failure(self, failure: Failure) -> Exception:
        cls = _ERRORS.get(failure.kind, InferenceError)
        return cls(f"{self.label}: {failure.message}")

    def _response(
        self,
        worker: WorkerProcess,
        request: InferenceRequest,
        refs: list[TensorRef],
        segment: str,
        parameters: dict[str, Any] | None,
    ) -> InferenceResponse:
        holder: ctypes.Array[ctypes.c_char] | None = None
        if segment:
            mm = self.mapped.get(segment)
            # The outputs are views of the worker's segment (no copy); the worker may reuse
            # it once the last of them is gone, i.e. after the transport has encoded them.
            holder = (ctypes.c_char * len(mm)).from_buffer(mm)
            weakref.finalize(holder, worker.release, segment)
        outputs = [
            ResponseOutput(
                ref.name,
                ref.shape,
                ref.datatype,
                UNSET if ref.parameters is None else ref.parameters,
                unpack(ref, holder),
            )
            for ref in refs
        ]
        return InferenceResponse(
            model_name=self.settings.name,
            outputs=outputs,
            id=request.id,
            parameters=UNSET if parameters is None else parameters,
        )
