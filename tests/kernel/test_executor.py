"""The executor's hand-off: results, errors, cancellation and shut-down, with real threads."""

from __future__ import annotations

import asyncio
import threading

import pytest

from kernel.executor import Executor


async def _thread_name() -> str:
    return threading.current_thread().name


async def _fail() -> None:
    raise ValueError("bad input")


async def _sleeps(value: int) -> int:
    # A runtime that really awaits: needs the worker thread's own loop.
    await asyncio.sleep(0.001)
    return value * 2


def test_runs_off_the_loop_and_returns_the_result() -> None:
    async def main() -> None:
        executor = Executor(2)
        executor.start()
        try:
            name = await executor.run(_thread_name)
            assert name.startswith("kernel-runtime")
            assert name != threading.current_thread().name
            assert await executor.call(sum, [1, 2, 3]) == 6
        finally:
            executor.shutdown()

    asyncio.run(main())


def test_exceptions_reach_the_caller() -> None:
    async def main() -> None:
        executor = Executor(1)
        executor.start()
        try:
            with pytest.raises(ValueError, match="bad input"):
                await executor.run(_fail)
            # The worker survives a failing call.
            assert await executor.run(_sleeps, 4) == 8
        finally:
            executor.shutdown()

    asyncio.run(main())


def test_many_concurrent_calls_each_get_their_own_result() -> None:
    """Results come back in batches through one mailbox: none lost, none crossed."""

    async def main() -> None:
        executor = Executor(3)
        executor.start()
        try:
            results = await asyncio.gather(*(executor.call(lambda i=i: i * i) for i in range(3000)))
            assert results == [i * i for i in range(3000)]
            awaited = await asyncio.gather(*(executor.run(_sleeps, i) for i in range(200)))
            assert awaited == [i * 2 for i in range(200)]
        finally:
            executor.shutdown()

    asyncio.run(main())


def test_a_call_cancelled_before_it_starts_never_runs() -> None:
    release = threading.Event()
    ran: list[str] = []

    def block() -> None:
        release.wait(5)
        ran.append("first")

    def second() -> None:
        ran.append("second")

    async def main() -> None:
        executor = Executor(1)
        executor.start()
        try:
            first = asyncio.ensure_future(executor.call(block))
            queued = asyncio.ensure_future(executor.call(second))
            await asyncio.sleep(0.05)
            queued.cancel()
            await asyncio.sleep(0)
            release.set()
            await first
            assert await executor.call(lambda: "after") == "after"
            assert queued.cancelled()
        finally:
            executor.shutdown()

    asyncio.run(main())
    assert ran == ["first"]


def test_shutdown_finishes_the_running_call_and_cancels_queued_ones() -> None:
    started = threading.Event()
    release = threading.Event()

    def slow() -> str:
        started.set()
        release.wait(5)
        return "done"

    async def main() -> None:
        executor = Executor(1)
        executor.start()
        running = asyncio.ensure_future(executor.call(slow))
        queued = asyncio.ensure_future(executor.call(lambda: "never"))
        await asyncio.to_thread(started.wait, 5)
        stopping = asyncio.ensure_future(asyncio.to_thread(executor.shutdown))
        await asyncio.sleep(0.05)
        assert not stopping.done()  # waits for the running call
        release.set()
        await stopping
        assert await running == "done"
        with pytest.raises(asyncio.CancelledError):
            await queued
        with pytest.raises(RuntimeError, match="not started"):
            await executor.call(lambda: None)

    asyncio.run(main())
