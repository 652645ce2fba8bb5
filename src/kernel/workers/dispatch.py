"""Sending one request to a worker and turning its answer into a response.

``Dispatcher.infer`` (blocking; the kernel calls it from its executor) packs the request's
tensors into a shared segment, sends a small ``Call`` to the worker ``_pick`` chooses (the
least busy) and waits for the answer, until the request's deadline. A call past its deadline
fails with ``DeadlineExceeded``; if its worker is still running it, that worker is killed so
it is never left wedged. The two pools differ only in how they pick a worker and count its
load: ``WorkerPool`` (its own processes) and ``SharedPool`` (a pool the supervisor owns).
"""

from __future__ import annotations

import ctypes
import itertools
import os
import time
import weakref
from collections.abc import Iterator
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, Final

from kernel.errors import BadRequest, DeadlineExceeded, InferenceError, ModelNotReady
from kernel.model_settings import ModelSettings
from kernel.workers.arena import Arena, Mapped
from kernel.workers.link import Link, Pending, WorkerGone
from kernel.workers.messages import Call, Failure, TensorRef
from kernel.workers.tensors import Tensor, pack, unpack
from protocol.errors import ProtocolError
from protocol.messages import UNSET, InferenceRequest, InferenceResponse, ResponseOutput

__all__ = ["Dispatcher"]

_ERRORS: Final[dict[str, type[Exception]]] = {
    "protocol": ProtocolError,
    "bad_request": BadRequest,
    "not_ready": ModelNotReady,
    "deadline": DeadlineExceeded,
}


#: How many times a call that never started is sent again after its worker died.
_RETRIES: Final = 3

_ids: tuple[int, Iterator[int]] | None = None


def _next_id() -> int:
    """A call id unique among every process and pool that may share a worker (the worker
    reports the id it runs, and a call past its deadline is killed only if it is that one)."""
    global _ids
    pid = os.getpid()
    if _ids is None or _ids[0] != pid:
        _ids = (pid, itertools.count(((pid & 0x3FFFFF) << 32) + 1))
    return next(_ids[1])


class Dispatcher:
    """What both pools share; subclasses provide ``_pick``, ``_done`` and ``_running``."""

    def __init__(self, settings: ModelSettings, label: str, arena: Arena, mapped: Mapped) -> None:
        self.settings = settings
        self.label = label
        self.arena = arena
        self.mapped = mapped

    def _pick(self, deadline: float) -> Link:
        """The least-busy ready worker, counted as busier by one; waits while none is ready."""
        raise NotImplementedError

    def _done(self, link: Link) -> None:
        """The call ``_pick`` counted on ``link`` is over."""
        raise NotImplementedError

    def _running(self, link: Link) -> int:
        """The id of the call ``link``'s worker runs now."""
        raise NotImplementedError

    def infer(self, request: InferenceRequest, timeout: float) -> InferenceResponse:
        """Run ``request`` on a worker; ``timeout`` seconds (0: none) bound the whole call."""
        deadline = time.monotonic() + timeout if timeout else 0.0
        tensors: list[Tensor] = [
            (i.name, i.shape, i.datatype, None if i.parameters is UNSET else i.parameters, i.data)
            for i in request.inputs
        ]
        outputs = None
        if request.outputs is not UNSET:
            outputs = [
                (o.name, None if o.parameters is UNSET else o.parameters) for o in request.outputs
            ]
        for attempt in itertools.count():
            refs, segment = pack(tensors, self.arena)
            call = Call(
                _next_id(),
                refs,
                segment.name if segment else "",
                deadline,
                None if request.id is UNSET else request.id,
                None if request.parameters is UNSET else request.parameters,
                outputs,
            )
            try:
                link = self._pick(deadline)
            except BaseException:
                if segment is not None:
                    self.arena.release(segment)
                raise
            pending = Pending(segment)
            try:
                link.send(call, pending)
                wait = None if not deadline else max(deadline - time.monotonic(), 0.0)
                try:
                    answer = pending.future.result(wait)
                except FutureTimeout:
                    raise self._expired(link, call) from None
                except WorkerGone as gone:
                    # Queued behind a call that killed (or got) its worker killed: it never
                    # ran, so another worker (or the replacement) can take it.
                    if gone.started or attempt >= _RETRIES:
                        raise
                    continue
            finally:
                self._done(link)
            break
        if isinstance(answer, Failure):
            raise self._failure(answer)
        return self._response(link, request, answer.outputs, answer.segment, answer.parameters)

    def _expired(self, link: Link, call: Call) -> DeadlineExceeded:
        pending = link.take(call.id)
        if pending is not None:
            if self._running(link) == call.id:
                # Still running: the worker is wedged on a request nobody waits for any more.
                link.kill(f"killed after request {call.id} passed its deadline")
            # Safe to reuse now: a worker checks the deadline before it reads any input.
            if pending.segment is not None:
                self.arena.release(pending.segment)
        return DeadlineExceeded(f"{self.label}: the request did not finish before its deadline")

    def _failure(self, failure: Failure) -> Exception:
        cls = _ERRORS.get(failure.kind, InferenceError)
        return cls(f"{self.label}: {failure.message}")

    def _response(
        self,
        link: Link,
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
            weakref.finalize(holder, link.release, segment)
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
