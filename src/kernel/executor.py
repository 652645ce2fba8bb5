"""Running runtime methods off the event loop.

``Runtime.load/predict/unload`` are ``async`` but may block (read files, run the framework).
The executor runs each call to completion in a worker thread that keeps its own event loop for
its whole life, so a blocking coroutine stalls only that thread, never the server's loop, and a
runtime that does real ``await`` work inside still has a loop to run on.

Some frameworks' first import is not safe to run in several threads at once (concurrent first
``joblib.load`` of scikit-learn models was seen to dead-lock in the import machinery), so
``prepare`` imports a runtime's ``framework_modules`` once, in one thread, before its first
model loads, and ``importing`` keeps the loads that import (``Runtime.load_imports``) apart
from each other and from those imports.

The hand-off is built for the inference hot path (measured: ``benchmarks/README.md``): a job
is one ``SimpleQueue.put`` and one loop future, with no ``concurrent.futures.Future`` and its
chained callbacks in between; results come back through a per-loop mailbox that wakes the loop
once for however many results are waiting, instead of once per result.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
import queue
import threading
import weakref
from collections import deque
from collections.abc import AsyncIterator, Callable, Coroutine, Generator
from typing import Any, TypeVar

from kernel.runtime import Runtime

__all__ = ["Executor"]

T = TypeVar("T")

_local = threading.local()


class _Resume:
    """Awaitable that continues a coroutine already stepped once, passing every value and
    exception between it and the task driving this awaitable (what ``yield from`` does)."""

    __slots__ = ("coro", "yielded")

    def __init__(self, coro: Coroutine[Any, Any, Any], yielded: Any) -> None:
        self.coro = coro
        self.yielded = yielded

    def __await__(self) -> Generator[Any, Any, Any]:
        coro, yielded = self.coro, self.yielded
        while True:
            try:
                sent = yield yielded
            except BaseException as exc:
                try:
                    yielded = coro.throw(exc)
                except StopIteration as stop:
                    return stop.value
            else:
                try:
                    yielded = coro.send(sent)
                except StopIteration as stop:
                    return stop.value


async def _finish(coro: Coroutine[Any, Any, T], yielded: Any) -> T:
    result: T = await _Resume(coro, yielded)
    return result


def _run(fn: Callable[..., Coroutine[Any, Any, T]], args: tuple[Any, ...]) -> T:
    loop: asyncio.AbstractEventLoop = _local.loop
    coro = fn(*args)
    # Most runtime methods never suspend (they block instead): step the coroutine once by
    # hand, with the thread's loop marked running (asyncio's hook for loop implementations)
    # so it can still reach the loop, and skip scheduling a task when that step finishes it.
    asyncio._set_running_loop(loop)
    try:
        yielded = coro.send(None)
    except StopIteration as stop:
        result: T = stop.value
        return result
    finally:
        asyncio._set_running_loop(None)
    return loop.run_until_complete(_finish(coro, yielded))


class _Mailbox:
    """Results on their way back to one event loop.

    Workers append and schedule a drain only when none is pending, so a burst of results costs
    the loop one wake-up. Lock-free: ``deque`` appends and pops are atomic, and a result that
    races a drain either lands before the drain empties the deque or schedules a drain of its
    own (at worst one drain too many, which finds nothing).
    """

    __slots__ = ("__weakref__", "items", "loop", "scheduled")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.items: deque[tuple[asyncio.Future[Any], bool, Any]] = deque()
        self.scheduled = False

    def post(self, future: asyncio.Future[Any], ok: bool, value: Any) -> None:
        """From a worker thread: hand ``value`` (a result, or an exception when not ``ok``)."""
        self.items.append((future, ok, value))
        if not self.scheduled:
            self.scheduled = True
            # A closed loop raises RuntimeError: nobody is waiting any more.
            with contextlib.suppress(RuntimeError):
                self.loop.call_soon_threadsafe(self.drain)

    def drain(self) -> None:
        """On the loop: settle every waiting future."""
        self.scheduled = False
        items = self.items
        while items:
            future, ok, value = items.popleft()
            if future.cancelled():
                continue
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)


class _Job:
    __slots__ = ("args", "fn", "future", "mailbox")

    def __init__(
        self,
        future: asyncio.Future[Any],
        mailbox: _Mailbox,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
    ) -> None:
        self.future = future
        self.mailbox = mailbox
        self.fn = fn
        self.args = args


class Executor:
    """A fixed set of threads, each with a persistent event loop, for runtime calls."""

    def __init__(self, threads: int = 0) -> None:
        self._threads = threads or min(32, (os.cpu_count() or 1) + 4)
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._workers: list[threading.Thread] = []
        self._started = False
        self._state_lock = threading.Lock()
        self._mailboxes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Mailbox] = (
            weakref.WeakKeyDictionary()
        )
        self._prepared: set[type[Runtime]] = set()
        self._import_lock = asyncio.Lock()
        self._loops: list[asyncio.AbstractEventLoop] = []

    def start(self) -> None:
        with self._state_lock:
            if self._started:
                return
            # Started up front: an idle thread costs nothing, and the hot path then never has
            # to count idle workers or decide whether to spawn one.
            self._workers = [
                threading.Thread(target=self._work, name=f"kernel-runtime_{i}", daemon=True)
                for i in range(self._threads)
            ]
            self._started = True
        for worker in self._workers:
            worker.start()

    def _work(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        _local.loop = loop
        with self._state_lock:
            self._loops.append(loop)
        get = self._queue.get
        while True:
            job = get()
            if job is None:
                return
            if job.future.cancelled():
                continue  # its caller stopped waiting before it started
            try:
                value, ok = job.fn(*job.args), True
            except BaseException as exc:
                value, ok = exc, False
            job.mailbox.post(job.future, ok, value)
            del job, value  # drop the request and response now, not at the next job

    def _submit(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> asyncio.Future[Any]:
        if not self._started:
            raise RuntimeError("the executor is not started")
        loop = asyncio.get_running_loop()
        mailbox = self._mailboxes.get(loop)
        if mailbox is None:
            mailbox = self._mailboxes[loop] = _Mailbox(loop)
        future = loop.create_future()
        self._queue.put(_Job(future, mailbox, fn, args))
        return future

    async def run(self, fn: Callable[..., Coroutine[Any, Any, T]], *args: Any) -> T:
        """Await ``fn(*args)`` to completion in a worker thread."""
        result: T = await self._submit(_run, (fn, args))
        return result

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run the plain function ``fn(*args)`` in a worker thread."""
        result: T = await self._submit(fn, args)
        return result

    @contextlib.asynccontextmanager
    async def importing(self) -> AsyncIterator[None]:
        """Within the block, no other first import runs (``prepare``, or another block): for
        the loads of runtimes whose ``load`` imports (``Runtime.load_imports``)."""
        async with self._import_lock:
            yield

    async def prepare(self, runtime_class: type[Runtime]) -> None:
        """Import ``runtime_class.framework_modules`` once, one runtime at a time.

        Raises the ``ImportError`` of a module that fails; a later call tries again.
        """
        if runtime_class in self._prepared or not runtime_class.framework_modules:
            return
        if not self._started:
            raise RuntimeError("the executor is not started")
        async with self._import_lock:
            if runtime_class in self._prepared:
                return
            for module in runtime_class.framework_modules:
                await self.call(importlib.import_module, module)
            self._prepared.add(runtime_class)

    def _cancel_queued(self) -> None:
        while True:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                return
            if job is not None:
                with contextlib.suppress(RuntimeError):  # its loop is closed
                    job.mailbox.loop.call_soon_threadsafe(job.future.cancel)

    def shutdown(self) -> None:
        """Stop the threads once running calls finish (queued ones are cancelled), then close
        their loops. Blocks."""
        with self._state_lock:
            if not self._started:
                return
            self._started = False
            workers, self._workers = self._workers, []
        self._cancel_queued()
        for _ in workers:
            self._queue.put(None)
        for worker in workers:
            worker.join()
        self._cancel_queued()  # anything submitted while the workers were stopping
        with self._state_lock:
            loops, self._loops = self._loops, []
        for loop in loops:
            loop.close()
