"""Adaptive batching through the real kernel: concurrent callers, an in-test runtime that
records every predict call it receives, and each rule of docs/batching.md checked by what the
runtime saw and what each caller got back."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from core_helpers import Plugin, gate, make_kernel, write_model

from kernel import BadRequest, Runtime
from kernel.batching import batch_key
from kernel.lifecycle import Kernel
from protocol.messages import (
    UNSET,
    InferenceRequest,
    InferenceResponse,
    MetadataTensor,
    RequestInput,
    RequestOutput,
    ResponseOutput,
)

pytestmark = pytest.mark.anyio

#: One entry per predict call: rows, trailing shape, dtype, outputs asked, request parameters.
CALLS: list[dict[str, Any]] = []
_lock = threading.Lock()


class Doubler(Runtime):
    """``double = 2x`` and ``total`` (row sums), one row per input row, unless
    ``extra.per_request`` asks for a per-request ``count`` output (not one row per row).
    A NaN in the input is the request's fault (``BadRequest``); request parameter ``wait``
    blocks on a gate; ``extra.sleep`` sleeps in every predict."""

    async def predict(self, request: InferenceRequest) -> InferenceResponse:
        x = request.inputs[0].data
        wanted = [o.name for o in request.outputs] if request.outputs else ["double"]
        params = dict(request.parameters) if request.parameters else {}
        with _lock:
            CALLS.append(
                {
                    "rows": x.shape[0],
                    "trailing": x.shape[1:],
                    "dtype": x.dtype.str,
                    "outputs": wanted,
                    "params": params,
                }
            )
        if "wait" in params and not gate(str(params["wait"])).wait(10):
            raise TimeoutError("gate never opened")
        time.sleep(float(self.settings.extra.get("sleep", 0)))  # noqa: ASYNC251 - on purpose
        if np.isnan(x).any():
            raise BadRequest("input holds NaN")
        results = {
            "double": x * 2,
            "total": x.sum(axis=1),
            "count": np.array([x.shape[0]], dtype=np.int64),
        }
        if self.settings.extra.get("per_request"):
            wanted = [*wanted, "count"]
        return InferenceResponse(
            model_name=self.name,
            outputs=[
                ResponseOutput(n, list(results[n].shape), "FP64", data=results[n]) for n in wanted
            ],
        )

    def inputs(self) -> list[MetadataTensor]:
        return [MetadataTensor("x", "FP64", [-1, 4])]

    def outputs(self) -> list[MetadataTensor]:
        return [MetadataTensor("double", "FP64", [-1, 4]), MetadataTensor("total", "FP64", [-1])]


class TypedDoubler(Runtime):
    """A typed runtime: takes and returns arrays; the kernel decodes and encodes."""

    async def predict(self, x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        with _lock:
            CALLS.append({"rows": x.shape[0]})
        time.sleep(0.2)  # noqa: ASYNC251 - a predict that takes a while
        return x * 2


@pytest.fixture(autouse=True)
def _calls() -> None:
    CALLS.clear()


def model(root: Path, size: int = 16, wait: float = 0.0, **extra: Any) -> None:
    write_model(
        root / "m",
        {
            "implementation": "doubler",
            "max_batch_size": size,
            "max_batch_time": wait,
            "parameters": {"extra": extra},
        },
    )


def kernel(root: Path) -> Kernel:
    return make_kernel(root, Plugin(doubler=Doubler, typed=TypedDoubler))


def req(
    rows: int,
    start: float = 0.0,
    width: int = 4,
    dtype: Any = np.float64,
    outputs: list[str] | None = None,
    **params: Any,
) -> InferenceRequest:
    x = (np.arange(rows * width, dtype=dtype).reshape(rows, width) + start).astype(dtype)
    datatype = {np.float64: "FP64", np.float32: "FP32"}[dtype]
    return InferenceRequest(
        inputs=[RequestInput("x", list(x.shape), datatype, data=x)],
        parameters=params or UNSET,
        outputs=[RequestOutput(n) for n in outputs] if outputs else UNSET,
    )


async def busy(k: Kernel, name: str = "hold") -> asyncio.Task[InferenceResponse]:
    """A request that holds the model busy until gate ``name`` opens."""
    task = asyncio.ensure_future(k.infer("m", None, req(1, wait=name)))
    await until(lambda: bool(CALLS), "the holder never reached predict")
    return task


async def until(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 5
    while not check():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.001)


async def queue_up(
    k: Kernel, requests: list[InferenceRequest]
) -> list[asyncio.Task[InferenceResponse]]:
    """Send ``requests`` concurrently and wait until every one waits in the window."""
    tasks = [asyncio.ensure_future(k.infer("m", None, r)) for r in requests]
    mv = k._find("m", None)
    await until(
        lambda: mv.batcher is not None and mv.batcher.queued == len(requests),
        "requests never queued",
    )
    return tasks


async def test_concurrent_requests_merge_and_each_gets_its_own_rows(tmp_path: Path) -> None:
    model(tmp_path)
    async with kernel(tmp_path) as k:
        holder = await busy(k)
        sizes = [1, 3, 2, 5]
        requests = [req(n, start=100 * i) for i, n in enumerate(sizes)]
        tasks = await queue_up(k, requests)
        gate("hold").set()
        responses = await asyncio.gather(*tasks)
        await holder
    assert [c["rows"] for c in CALLS] == [1, sum(sizes)]  # the lone one, then one merged call
    for sent, got in zip(requests, responses, strict=True):
        x = sent.inputs[0].data
        (out,) = got.outputs
        assert out.name == "double"
        assert out.shape == list(x.shape)
        np.testing.assert_array_equal(out.data, x * 2)
        assert got.model_name == "m"


async def test_lone_request_is_not_delayed_by_the_window(tmp_path: Path) -> None:
    model(tmp_path, wait=5.0)  # a 5 s window must never be waited on by an idle model
    async with kernel(tmp_path) as k:
        for i in range(3):
            started = time.perf_counter()
            response = await k.infer("m", None, req(2, start=i))
            assert time.perf_counter() - started < 1.0
            np.testing.assert_array_equal(
                response.outputs[0].data, req(2, start=i).inputs[0].data * 2
            )
    assert [c["rows"] for c in CALLS] == [2, 2, 2]


async def test_different_shapes_datatypes_outputs_and_parameters_never_merge(
    tmp_path: Path,
) -> None:
    model(tmp_path)
    async with kernel(tmp_path) as k:
        holder = await busy(k)
        requests = [
            req(1),
            req(2),  # merges with the first
            req(1, width=3),  # other trailing shape
            req(1, dtype=np.float32),  # other datatype
            req(1, outputs=["total"]),  # other requested outputs
            req(1, outputs=["double", "total"]),
            req(1, mode="a"),  # other parameters
        ]
        tasks = await queue_up(k, requests)
        gate("hold").set()
        responses = await asyncio.gather(*tasks)
        await holder
    calls = CALLS[1:]
    assert len(calls) == 6
    merged = [c for c in calls if c["rows"] == 3]
    assert len(merged) == 1
    assert merged[0]["trailing"] == (4,)
    assert merged[0]["dtype"] == "<f8"
    assert sorted(c["rows"] for c in calls) == [1, 1, 1, 1, 1, 3]
    for sent, got in zip(requests, responses, strict=True):
        x = sent.inputs[0].data
        asked = [o.name for o in sent.outputs] if sent.outputs else ["double"]
        assert [o.name for o in got.outputs] == asked
        by_name = {o.name: o.data for o in got.outputs}
        if "double" in by_name:
            np.testing.assert_array_equal(by_name["double"], x * 2)
        if "total" in by_name:
            np.testing.assert_array_equal(by_name["total"], x.sum(axis=1))


async def test_a_bad_request_fails_alone(tmp_path: Path) -> None:
    model(tmp_path)
    async with kernel(tmp_path) as k:
        holder = await busy(k)
        bad = req(2)
        bad.inputs[0].data[1, 2] = np.nan
        requests = [req(1), bad, req(3, start=7)]
        tasks = await queue_up(k, requests)
        gate("hold").set()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        await holder
    assert isinstance(results[1], BadRequest)
    assert "NaN" in str(results[1])
    for i in (0, 2):
        got = results[i]
        assert isinstance(got, InferenceResponse)
        np.testing.assert_array_equal(got.outputs[0].data, requests[i].inputs[0].data * 2)
    # lone holder, the merged call that failed, then each member alone
    rows = [c["rows"] for c in CALLS]
    assert rows[:2] == [1, 6]
    assert sorted(rows[2:]) == [1, 2, 3]


async def test_max_batch_size_is_respected(tmp_path: Path) -> None:
    model(tmp_path, size=4)
    async with kernel(tmp_path) as k:
        holder = await busy(k)
        requests = [req(1, start=i) for i in range(9)] + [req(6, start=50)]
        tasks = [asyncio.ensure_future(k.infer("m", None, r)) for r in requests]
        await asyncio.sleep(0.2)
        gate("hold").set()
        responses = await asyncio.gather(*tasks)
        await holder
    rows = [c["rows"] for c in CALLS[1:]]
    assert sum(rows) == 15
    assert all(r <= 4 for r in rows if r != 6)  # the 6-row request runs alone, never split
    assert rows.count(4) >= 2  # full batches left without waiting for the holder
    for sent, got in zip(requests, responses, strict=True):
        np.testing.assert_array_equal(got.outputs[0].data, sent.inputs[0].data * 2)


async def test_max_batch_time_bounds_the_wait_behind_a_running_predict(tmp_path: Path) -> None:
    model(tmp_path, wait=0.05)
    async with kernel(tmp_path) as k:
        holder = await busy(k)
        tasks = [asyncio.ensure_future(k.infer("m", None, req(1, start=i))) for i in range(3)]
        done, _ = await asyncio.wait(tasks, timeout=3)
        assert len(done) == 3
        assert not holder.done()
        gate("hold").set()
        await holder
    assert [c["rows"] for c in CALLS] == [1, 3]


async def test_outputs_not_one_per_row_fall_back_and_switch_batching_off(
    tmp_path: Path,
) -> None:
    model(tmp_path, per_request=True)
    async with kernel(tmp_path) as k:
        holder = await busy(k)
        requests = [req(1), req(2, start=10)]
        tasks = await queue_up(k, requests)
        gate("hold").set()
        responses = await asyncio.gather(*tasks)
        await holder
        mv = k._find("m", None)
        assert mv.batcher is not None
        assert mv.batcher.disabled
    for sent, got in zip(requests, responses, strict=True):
        out = {o.name: o.data for o in got.outputs}
        np.testing.assert_array_equal(out["double"], sent.inputs[0].data * 2)
        assert out["count"].tolist() == [sent.inputs[0].data.shape[0]]
    rows = [c["rows"] for c in CALLS]
    assert rows[:2] == [1, 3]
    assert sorted(rows[2:]) == [1, 2]


async def test_model_config_reports_max_batch_size(tmp_path: Path) -> None:
    model(tmp_path, size=8)
    async with kernel(tmp_path) as k:
        config = k.model_config("m", None)
    assert config.max_batch_size == 8
    assert config.input[0].dims == [4]  # the batch dimension is left out


async def test_typed_runtime_batches_through_its_codecs(tmp_path: Path) -> None:
    write_model(tmp_path / "m", {"implementation": "typed", "max_batch_size": 32})
    async with kernel(tmp_path) as k:
        first = asyncio.ensure_future(k.infer("m", None, req(1)))
        await until(lambda: bool(CALLS), "the first request never reached predict")
        requests = [req(n, start=10 * n) for n in (1, 2, 3)]
        responses = await asyncio.gather(*(k.infer("m", None, r) for r in requests))
        await first
    assert [c["rows"] for c in CALLS] == [1, 6]
    for sent, got in zip(requests, responses, strict=True):
        np.testing.assert_array_equal(got.outputs[0].data, sent.inputs[0].data * 2)


async def test_batching_off_by_default_runs_predicts_side_by_side(tmp_path: Path) -> None:
    write_model(tmp_path / "m", {"implementation": "doubler", "parameters": {"extra": {}}})
    async with kernel(tmp_path) as k:
        holder = await busy(k)
        await asyncio.gather(*(k.infer("m", None, req(1)) for _ in range(3)))
        gate("hold").set()
        await holder
        assert k._find("m", None).batcher is None
    assert [c["rows"] for c in CALLS] == [1, 1, 1, 1]


def test_batch_key_rules() -> None:
    def one(rows: int, **params: Any) -> InferenceRequest:
        x = np.zeros((rows, 4))
        return InferenceRequest(inputs=[RequestInput("x", [rows, 4], "FP64", params or UNSET, x)])

    key_a, rows_a = batch_key(one(2, binary_data_size=64)) or (b"", 0)
    key_b, rows_b = batch_key(one(5, binary_data_size=160)) or (b"", 0)
    assert (rows_a, rows_b) == (2, 5)
    assert key_a == key_b != b""  # the wire-only size does not keep them apart
    assert batch_key(one(2, content_type="np")) != batch_key(one(2))
    ragged = InferenceRequest(
        inputs=[
            RequestInput("a", [2, 1], "FP64", data=np.zeros((2, 1))),
            RequestInput("b", [3, 1], "FP64", data=np.zeros((3, 1))),
        ]
    )
    assert batch_key(ragged) is None  # no common batch dimension: runs alone
    scalar = InferenceRequest(inputs=[RequestInput("s", [], "FP64", data=np.float64(1.0))])
    assert batch_key(scalar) is None
    assert batch_key(InferenceRequest(inputs=[])) is None
