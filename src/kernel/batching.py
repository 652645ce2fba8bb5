"""Adaptive batching: concurrent requests for one model merged into one ``predict`` call.

A model opts in with ``max_batch_size`` > 1 in ``model-settings.json`` (``max_batch_time``, in
seconds, bounds the wait). The kernel then hands each request to the model version's
``Batcher`` instead of calling ``predict`` directly. The rules (docs/batching.md has the why):

- **Idle model, no wait.** A request that arrives while none of the model's predicts is
  running is dispatched at once, alone.
- **The window opens only while a predict runs.** Requests that arrive while one runs queue,
  grouped by compatibility. A group leaves when a running predict of the model finishes (all
  groups leave then), when it holds ``max_batch_size`` rows, or when its oldest request has
  waited ``max_batch_time`` seconds (``0``: no time limit; the running predict bounds the wait),
  whichever comes first.
- **Only alike requests merge.** Same input names in the same order, same datatypes, same
  trailing shapes (every dimension but the first), same tensor parameters, same request
  parameters and same requested outputs (names and parameters). Every input of a request must
  have the same first dimension (its row count). Anything else runs alone, unmerged.
- **Merge and split along the first dimension.** Inputs are concatenated; each output is
  sliced back (numpy views, no copy) by each caller's row count. A batch never splits a
  request: one bigger than ``max_batch_size`` runs alone.
- **Outputs that are not per row.** If any output of a merged predict does not have the
  batch's total row count as its first dimension, the merged result is dropped, every member
  runs alone and batching is switched off for that model version (logged once).
- **One bad request fails alone.** If a merged predict raises, each member is retried alone, so
  only the request(s) at fault get the error.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import msgspec
import numpy as np

from protocol.messages import (
    UNSET,
    InferenceRequest,
    InferenceResponse,
    RequestInput,
    ResponseOutput,
)

if TYPE_CHECKING:
    from kernel.executor import Executor
    from kernel.models import ModelVersion
    from kernel.runtime import Runtime

__all__ = ["Batcher", "PredictCall", "batch_key", "batcher_for"]

logger = logging.getLogger("kernel.batching")

#: What the batcher calls to run one (possibly merged) request: the kernel's executor call of
#: the runtime's ``predict`` (or its typed adapter).
PredictCall = Callable[[InferenceRequest], Awaitable[Any]]

#: Wire-level tensor parameter that differs with the row count and means nothing once the
#: tensor is decoded (REST binary extension): ignored when comparing, dropped when merging.
_WIRE_ONLY: Final = frozenset({"binary_data_size"})

_encode = msgspec.json.Encoder(order="sorted").encode


def _params(params: Any) -> Any:
    """Parameters as compared: wire-only keys left out."""
    if params is UNSET or not params:
        return {}
    if isinstance(params, dict):
        return {k: v for k, v in params.items() if k not in _WIRE_ONLY}
    return params


def batch_key(request: InferenceRequest) -> tuple[bytes, int] | None:
    """``(compatibility key, rows)`` of a request, or ``None`` when it cannot be batched.

    Two requests may merge only when their keys are equal (see the module docstring).
    """
    if not request.inputs:
        return None
    rows = -1
    inputs = []
    for tensor in request.inputs:
        data = tensor.data
        if not isinstance(data, np.ndarray) or data.ndim == 0:
            return None
        if rows < 0:
            rows = data.shape[0]
        elif data.shape[0] != rows:
            return None  # no common batch dimension
        inputs.append(
            [
                tensor.name,
                tensor.datatype,
                data.dtype.str,
                data.shape[1:],
                _params(tensor.parameters),
            ]
        )
    outputs = [] if request.outputs is UNSET else request.outputs
    parts = [
        inputs,
        _params(request.parameters),
        [[o.name, _params(o.parameters)] for o in outputs],
    ]
    try:
        key = _encode(parts)
    except (TypeError, msgspec.EncodeError):  # a parameter value JSON cannot hold
        key = repr(parts).encode()
    return key, rows


@dataclass(eq=False, slots=True)
class _Item:
    """One caller's request waiting for its share of a batch."""

    request: InferenceRequest
    rows: int
    future: asyncio.Future[Any]


@dataclass(eq=False, slots=True)
class _Group:
    """Queued requests that may merge with each other."""

    key: bytes
    items: list[_Item] = field(default_factory=list)
    rows: int = 0
    timer: asyncio.TimerHandle | None = None


def _merge(items: list[_Item]) -> InferenceRequest:
    """One request whose inputs are the members' inputs concatenated along the first axis."""
    first = items[0].request
    inputs = []
    for index, tensor in enumerate(first.inputs):
        data = np.concatenate([item.request.inputs[index].data for item in items])
        params = tensor.parameters
        if params is not UNSET and any(k in params for k in _WIRE_ONLY):
            params = {k: v for k, v in params.items() if k not in _WIRE_ONLY} or UNSET
        inputs.append(
            RequestInput(
                name=tensor.name,
                shape=list(data.shape),
                datatype=tensor.datatype,
                parameters=params,
                data=data,
            )
        )
    return InferenceRequest(inputs=inputs, parameters=first.parameters, outputs=first.outputs)


def _splittable(response: Any, total: int) -> bool:
    """Whether every output of a merged response has one row per request row."""
    if not isinstance(response, InferenceResponse):
        return False
    for output in response.outputs:
        data = output.data
        if not isinstance(data, np.ndarray) or data.ndim == 0 or data.shape[0] != total:
            return False
        if list(output.shape) != list(data.shape):
            return False
    return True


def _split(response: InferenceResponse, items: list[_Item]) -> list[InferenceResponse]:
    """Each member's rows of every output (views into the merged arrays)."""
    parts = []
    start = 0
    for item in items:
        stop = start + item.rows
        outputs = [
            ResponseOutput(
                name=o.name,
                shape=[item.rows, *o.shape[1:]],
                datatype=o.datatype,
                parameters=o.parameters,
                data=o.data[start:stop],
            )
            for o in response.outputs
        ]
        parts.append(
            InferenceResponse(
                model_name=response.model_name,
                outputs=outputs,
                model_version=response.model_version,
                id=item.request.id,
                parameters=response.parameters,
            )
        )
        start = stop
    return parts


class Batcher:
    """Merges one model version's concurrent requests (see the module docstring).

    Lives on the event loop: every method but the predicts it dispatches runs there, so its
    state needs no lock. ``predicts`` and ``batches`` count calls made and merged calls made.
    """

    def __init__(
        self, label: str, max_batch_size: int, max_batch_time: float, call: PredictCall
    ) -> None:
        self.label = label
        self.max_batch_size = max_batch_size
        self.max_batch_time = max(0.0, max_batch_time)
        self._call = call
        self._running = 0
        self._groups: dict[bytes, _Group] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        #: Set when a merged predict returned outputs that are not per row.
        self.disabled = False
        self.predicts = 0
        self.batches = 0

    @property
    def queued(self) -> int:
        """Requests waiting in the window now."""
        return sum(len(group.items) for group in self._groups.values())

    async def submit(self, request: InferenceRequest) -> Any:
        """Answer ``request``, merged with others when the rules allow; what ``predict``
        returned for it, or its exception."""
        found = None if self.disabled else batch_key(request)
        if found is None:
            return await self._alone(request)
        key, rows = found
        if self._running == 0 and not self._groups:
            return await self._alone(request)  # idle: no reason to wait
        loop = asyncio.get_running_loop()
        item = _Item(request, rows, loop.create_future())
        group = self._groups.get(key)
        if group is not None and group.rows + rows > self.max_batch_size:
            self._dispatch(group)  # full: it leaves, this request starts the next one
            group = None
        if group is None:
            group = self._groups[key] = _Group(key)
            if self.max_batch_time > 0:
                group.timer = loop.call_later(self.max_batch_time, self._dispatch, group)
        group.items.append(item)
        group.rows += rows
        if group.rows >= self.max_batch_size:
            self._dispatch(group)
        return await item.future

    async def _alone(self, request: InferenceRequest) -> Any:
        self._running += 1
        try:
            self.predicts += 1
            return await self._call(request)
        finally:
            self._finished()

    def _finished(self) -> None:
        """A predict ended: whatever queued behind it leaves now."""
        self._running -= 1
        for group in list(self._groups.values()):
            self._dispatch(group)

    def _dispatch(self, group: _Group) -> None:
        if self._groups.get(group.key) is group:
            del self._groups[group.key]
        if group.timer is not None:
            group.timer.cancel()
            group.timer = None
        items = [item for item in group.items if not item.future.done()]  # drop cancelled
        group.items = []
        if not items:
            return
        self._running += 1
        task = asyncio.ensure_future(self._run(items))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, items: list[_Item]) -> None:
        try:
            if len(items) == 1:
                await self._one(items[0])
                return
            total = sum(item.rows for item in items)
            self.predicts += 1
            self.batches += 1
            try:
                response = await self._call(_merge(items))
            except Exception:
                # Which member was at fault is unknown: each runs alone, so only it fails.
                await asyncio.gather(*(self._one(item) for item in items))
                return
            if not _splittable(response, total):
                self._disable(response, total)
                await asyncio.gather(*(self._one(item) for item in items))
                return
            for item, part in zip(items, _split(response, items), strict=True):
                if not item.future.done():
                    item.future.set_result(part)
        finally:
            # Only when this task itself was cancelled (loop shut down) can a member be left
            # unanswered; its caller must not wait forever.
            for item in items:
                if not item.future.done():
                    item.future.cancel()
            self._finished()

    async def _one(self, item: _Item) -> None:
        if item.future.done():
            return
        self.predicts += 1
        try:
            result = await self._call(item.request)
        except Exception as exc:
            if not item.future.done():
                item.future.set_exception(exc)
            return
        if not item.future.done():
            item.future.set_result(result)

    def _disable(self, response: Any, total: int) -> None:
        if self.disabled:
            return
        self.disabled = True
        if isinstance(response, InferenceResponse):
            shapes = ", ".join(f"{o.name} {o.shape}" for o in response.outputs)
            what = f"returned outputs {shapes} for {total} rows"
        else:
            what = f"returned {type(response).__name__}"
        logger.warning(
            "%s: batching switched off: a merged predict %s, so its outputs are not one row"
            " per input row",
            self.label,
            what,
        )


def batcher_for(mv: ModelVersion, runtime: Runtime, executor: Executor) -> Batcher:
    """The version's batcher, made on first use from its settings; it calls the runtime's
    ``predict`` (or the version's typed adapter) in ``executor``."""
    batcher = mv.batcher
    if batcher is None:
        settings = runtime.settings
        target = mv.typed if mv.typed is not None else runtime.predict
        batcher = mv.batcher = Batcher(
            mv.label(),
            settings.max_batch_size,
            settings.max_batch_time,
            functools.partial(executor.run, target),
        )
    return batcher
