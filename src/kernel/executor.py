"""Running runtime methods off the event loop.

``Runtime.load/predict/unload`` are ``async`` but may block (read files, run the framework).
The executor runs each call to completion in a worker thread that keeps its own event loop for
its whole life, so a blocking coroutine stalls only that thread, never the server's loop, and a
runtime that does real ``await`` work inside still has a loop to run on.

Some frameworks' first import is not safe to run in several threads at once (concurrent first
``joblib.load`` of scikit-learn models was seen to dead-lock in the import machinery), so
``prepare`` imports a runtime's ``framework_modules`` once, in one thread, before its first
model loads.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import threading
from collections.abc import Callable, Coroutine, Generator
from concurrent.futures import ThreadPoolExecutor
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


class Executor:
    """A pool of threads, each with a persistent event loop, for runtime calls."""

    def __init__(self, threads: int = 0) -> None:
        self._threads = threads or min(32, (os.cpu_count() or 1) + 4)
        self._pool: ThreadPoolExecutor | None = None
        self._prepared: set[type[Runtime]] = set()
        self._import_lock = asyncio.Lock()
        self._loops: list[asyncio.AbstractEventLoop] = []
        self._loops_lock = threading.Lock()

    def _init_thread(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        _local.loop = loop
        with self._loops_lock:
            self._loops.append(loop)

    def start(self) -> None:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(
                self._threads, thread_name_prefix="kernel-runtime", initializer=self._init_thread
            )

    async def run(self, fn: Callable[..., Coroutine[Any, Any, T]], *args: Any) -> T:
        """Await ``fn(*args)`` to completion in a worker thread."""
        if self._pool is None:
            raise RuntimeError("the executor is not started")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, _run, fn, args)

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run the plain function ``fn(*args)`` in a worker thread."""
        if self._pool is None:
            raise RuntimeError("the executor is not started")
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    async def prepare(self, runtime_class: type[Runtime]) -> None:
        """Import ``runtime_class.framework_modules`` once, one runtime at a time.

        Raises the ``ImportError`` of a module that fails; a later call tries again.
        """
        if runtime_class in self._prepared or not runtime_class.framework_modules:
            return
        if self._pool is None:
            raise RuntimeError("the executor is not started")
        async with self._import_lock:
            if runtime_class in self._prepared:
                return
            loop = asyncio.get_running_loop()
            for module in runtime_class.framework_modules:
                await loop.run_in_executor(self._pool, importlib.import_module, module)
            self._prepared.add(runtime_class)

    def shutdown(self) -> None:
        """Stop the threads once running calls finish, then close their loops. Blocks."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        pool.shutdown(wait=True, cancel_futures=True)
        with self._loops_lock:
            loops, self._loops = self._loops, []
        for loop in loops:
            loop.close()
