"""Worker pools with real worker processes, driven through a real ``Kernel``."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
from worker_models import output, pid_of, probe_model, request

from kernel.errors import BadRequest, DeadlineExceeded, InferenceError
from kernel.lifecycle import Kernel
from kernel.settings import ServerSettings
from kernel.workers import PooledRuntime, WorkerPool
from kernel.workers.arena import Arena, shared_folder
from kernel.workers.messages import Call, encode
from kernel.workers.tensors import pack
from protocol.messages import InferenceRequest

pytestmark = pytest.mark.anyio


async def replaced(pool: WorkerPool, count: int) -> None:
    """Until the pool has replaced ``count`` workers in all (a fresh interpreter takes a
    while to start)."""
    give_up = time.monotonic() + 60
    while pool.replaced < count:
        assert time.monotonic() < give_up, "the worker was not replaced"
        await asyncio.sleep(0.05)


def pool_of(kernel: Kernel, name: str) -> WorkerPool:
    runtime = kernel._find(name, None).runtime
    assert isinstance(runtime, PooledRuntime)
    assert runtime.pool is not None
    return runtime.pool


@pytest.fixture(scope="module")
async def kernel(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Kernel]:
    """One kernel for the module (worker processes take a while to start); every test
    leaves its models serving."""
    root = tmp_path_factory.mktemp("models")
    probe_model(root, "pair", parallel_workers=2)
    probe_model(root, "solo", parallel_workers=1)
    probe_model(root, "timed", parallel_workers=1, request_timeout=1.0)
    probe_model(root, "doomed", parallel_workers=1)
    probe_model(root, "inproc")
    async with Kernel(ServerSettings(model_repository_root=str(root))) as k:
        yield k


async def test_large_tensor_round_trip_through_shared_memory(kernel: Kernel) -> None:
    x = np.random.default_rng(0).random((1000, 1000), dtype=np.float32)
    response = await kernel.infer("pair", None, request(x))
    y = output(response, "y")
    assert y.dtype == np.float32
    assert y.shape == (1000, 1000)
    assert np.array_equal(y, x)
    assert pid_of(response) in pool_of(kernel, "pair").pids()
    # The model ran in another process; the in-process model runs here.
    assert pid_of(response) != pid_of(await kernel.infer("inproc", None, request(x)))


def test_message_size_does_not_grow_with_tensor_size() -> None:
    folder = shared_folder("kernel-test-")
    arena = Arena(folder, "t-")
    try:
        sizes = []
        for n in (100_000, 1_000_000, 4_000_000):
            x = np.ones(n, dtype=np.float32)
            refs, segment = pack([("x", [n], "FP32", None, x)], arena)
            assert segment is not None
            # The bytes are in the segment, not in the message.
            view = np.frombuffer(segment.mm, np.float32, n, refs[0].offset)
            assert np.array_equal(view, x)
            sizes.append(len(encode(Call(1, refs, segment.name))))
            arena.release(segment)
        assert max(sizes) - min(sizes) <= 4, sizes  # only the integers' widths vary
        assert max(sizes) < 200
    finally:
        arena.close()
        folder.rmdir()


async def test_bytes_tensors(kernel: Kernel) -> None:
    words = np.array([[b"", b"a\x00b"], ["é".encode(), b"x" * 70_000]], dtype=object)
    response = await kernel.infer("pair", None, request(words))
    y = output(response, "y")
    assert y.dtype == object
    assert y.shape == (2, 2)
    assert y.tolist() == words.tolist()
    assert output(response, "numpy").tolist() == [np.__version__.encode()]


async def test_least_busy_dispatch(kernel: Kernel) -> None:
    """While one worker runs a slow request, every other request goes to the idle one;
    round-robin would queue every second request behind the slow one."""
    slow = asyncio.ensure_future(kernel.infer("pair", None, request([1.0], sleep=2.0)))
    await asyncio.sleep(0.3)
    started = time.monotonic()
    pids = [pid_of(await kernel.infer("pair", None, request([2.0]))) for _ in range(4)]
    assert time.monotonic() - started < 1.5
    busy = pid_of(await slow)
    assert len(set(pids)) == 1
    assert busy not in pids


async def test_concurrent_requests_use_every_worker(kernel: Kernel) -> None:
    responses = await asyncio.gather(
        *(kernel.infer("pair", None, request([float(i)], sleep=0.3)) for i in range(4))
    )
    assert {pid_of(r) for r in responses} == set(pool_of(kernel, "pair").pids())
    assert [float(output(r, "y")[0]) for r in responses] == [0.0, 1.0, 2.0, 3.0]


async def test_dead_worker_fails_its_request_and_is_replaced(kernel: Kernel) -> None:
    pool = pool_of(kernel, "solo")
    (before,) = pool.pids()
    count = pool.replaced
    with pytest.raises(InferenceError) as caught:
        await kernel.infer("solo", None, request([1.0], crash=True))
    message = str(caught.value)
    assert "model 'solo'" in message
    assert f"worker process {before} died" in message
    assert "exit code 3" in message
    # The model stays available: the next request waits for the replacement.
    response = await kernel.infer("solo", None, request([5.0]))
    assert float(output(response, "y")[0]) == 5.0
    assert pid_of(response) != before
    assert pool.pids() == [pid_of(response)]
    assert pool.replaced == count + 1
    assert kernel.model_ready("solo", None)


async def test_deadline_from_settings_kills_a_wedged_worker(kernel: Kernel) -> None:
    pool = pool_of(kernel, "timed")
    (before,) = pool.pids()
    count = pool.replaced
    process = pool.workers[0]._process
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded, match=r"model 'timed'.*deadline"):
        await kernel.infer("timed", None, request([1.0], sleep=30.0))
    assert time.monotonic() - started < 3.0
    assert process is not None
    assert process.wait(5) == -9
    await replaced(pool, count + 1)
    response = await kernel.infer("timed", None, request([2.0]))
    assert pid_of(response) != before
    assert float(output(response, "y")[0]) == 2.0


async def test_client_timeout_parameter_in_microseconds(kernel: Kernel) -> None:
    pool = pool_of(kernel, "pair")
    count = pool.replaced
    with pytest.raises(DeadlineExceeded):
        await kernel.infer("pair", None, request([1.0], sleep=30.0, timeout=300_000))
    response = await kernel.infer("pair", None, request([1.0], sleep=0.05, timeout=20_000_000))
    assert float(output(response, "y")[0]) == 1.0
    with pytest.raises(BadRequest, match="'timeout' must be microseconds"):
        await kernel.infer("pair", None, request([1.0], timeout="soon"))
    await replaced(pool, count + 1)


async def test_runtime_errors_keep_their_class_and_message(kernel: Kernel) -> None:
    empty = InferenceRequest(inputs=[])
    with pytest.raises(InferenceError, match="model 'pair': IndexError"):
        await kernel.infer("pair", None, empty)
    # The worker survived its runtime's exception.
    pids = pool_of(kernel, "pair").pids()
    await asyncio.sleep(0.2)
    assert pool_of(kernel, "pair").pids() == pids
    assert all(
        w._process is not None and w._process.poll() is None
        for w in pool_of(kernel, "pair").workers
    )


async def test_unload_stops_workers_and_removes_shared_memory(kernel: Kernel) -> None:
    pool = pool_of(kernel, "doomed")
    await kernel.infer("doomed", None, request(np.zeros(100_000, np.float32)))
    folder = pool.folder
    assert any(folder.iterdir())
    processes = [w._process for w in pool.workers]
    await kernel.unload_model("doomed")
    assert all(p is not None and p.poll() is not None for p in processes)
    assert not folder.exists()


async def test_bad_environment_path_makes_the_model_unavailable(tmp_path: Path) -> None:
    probe_model(tmp_path, "lost", parameters={"environment_path": str(tmp_path / "nowhere")})
    probe_model(tmp_path, "broken", parallel_workers=1, implementation="probe.Missing")
    settings = ServerSettings(model_repository_root=str(tmp_path), strict_readiness=False)
    async with Kernel(settings) as k:
        index = {e.name: e for e in await k.repository_index()}
    assert index["lost"].state == "UNAVAILABLE"
    assert "is not a virtualenv" in index["lost"].reason
    assert index["broken"].state == "UNAVAILABLE"
    assert "worker failed to load the model" in index["broken"].reason
    assert "'Missing'" in index["broken"].reason


async def test_result_segments_are_reused_once_the_response_is_gone(kernel: Kernel) -> None:
    """Outputs are views of the worker's segment (no copy); dropping the response gives the
    segment back, so a stream of large requests reuses one segment per worker."""
    pool = pool_of(kernel, "solo")
    (pid,) = pool.pids()
    x = np.arange(500_000, dtype=np.float32)
    kept = [await kernel.infer("solo", None, request(x)) for _ in range(3)]
    # Held responses pin their segments: each got its own, all still intact.
    assert len(list(pool.folder.glob(f"w{pid}-*"))) == 3
    assert all(np.array_equal(output(r, "y"), x) for r in kept)
    del kept
    for i in range(10):
        response = await kernel.infer("solo", None, request(x + i))
        assert np.array_equal(output(response, "y"), x + i)
        del response
    assert len(list(pool.folder.glob(f"w{pid}-*"))) == 3


async def test_runtime_metrics_recorded_in_workers_reach_the_server(kernel: Kernel) -> None:
    def calls() -> float:
        text = kernel.metrics().decode()
        for line in text.splitlines():
            if line.startswith('kernel_runtime_probe_calls_total{model="solo"'):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    before = calls()
    for _ in range(3):
        await kernel.infer("solo", None, request([1.0]))
    # The worker's counts ride on its replies; this process has no other way to see them.
    assert calls() == before + 3


async def test_metadata_parameters_come_from_the_runtime_wherever_it_runs(kernel: Kernel) -> None:
    pooled = kernel.model_metadata("solo", None).parameters
    in_process = kernel.model_metadata("inproc", None).parameters
    assert isinstance(pooled, dict)
    assert isinstance(in_process, dict)
    # A worker process loaded it (the first one: replacements load the same model).
    assert isinstance(pooled["loaded_by"], int)
    assert pooled["loaded_by"] != os.getpid()
    assert in_process["loaded_by"] == os.getpid()


async def test_a_request_queued_behind_a_killed_call_runs_on_the_replacement(
    kernel: Kernel,
) -> None:
    # One worker: the second request waits in its queue behind the wedged first one, which is
    # killed at its deadline. The second never ran, so it goes to the replacement instead of
    # failing with its neighbour.
    pool = pool_of(kernel, "solo")
    (before,) = pool.pids()
    count = pool.replaced
    wedged = asyncio.create_task(
        kernel.infer("solo", None, request([1.0], sleep=30.0, timeout=1_000_000))
    )
    await asyncio.sleep(0.3)  # the worker is running the wedged call now
    queued = asyncio.create_task(kernel.infer("solo", None, request([7.0])))
    with pytest.raises(DeadlineExceeded):
        await wedged
    response = await queued
    assert float(output(response, "y")[0]) == 7.0
    assert pid_of(response) != before
    await replaced(pool, count + 1)
