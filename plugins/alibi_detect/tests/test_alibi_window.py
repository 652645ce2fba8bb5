"""Windowed drift: instances accumulate across requests and the test runs whenever the window
fills; every caller gets the latest completed test plus ``window_count``; concurrent callers
never lose or double-count an instance."""

from __future__ import annotations

import asyncio
import random
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from alibi_support import assert_result_equal, infer, load, request, same, shifted

from kernel import BadRequest
from kernel_alibi_detect._window import Window
from protocol.messages import MetadataTensor

pytestmark = pytest.mark.anyio

Array = np.ndarray[Any, Any]


async def test_the_test_runs_when_the_window_fills(saved: Path) -> None:
    from alibi_detect.saving import load_detector

    runtime = await load(saved / "ks", uri="detector", window_size=50)
    own = load_detector(saved / "ks" / "detector")
    x = shifted(n=200)
    first, params = await infer(runtime, x[:20])
    assert first == {"window_count": np.array([20])}  # no test yet: nothing else
    assert params["window_tests"] == 0
    assert params["window_size"] == 50
    assert (await infer(runtime, x[20:40]))[0] == {"window_count": np.array([40])}
    third, params = await infer(runtime, x[40:60])  # completes rows 0..49
    assert third.pop("window_count").tolist() == [10]
    assert params["window_tests"] == 1
    assert_result_equal(third, own.predict(x[:50])["data"])
    assert third["is_drift"].tolist() == [1]
    # every caller until the next window gets that same latest result
    fourth, _ = await infer(runtime, x[60:65])
    assert fourth.pop("window_count").tolist() == [15]
    assert_result_equal(fourth, own.predict(x[:50])["data"])


async def test_one_request_may_fill_several_windows(saved: Path) -> None:
    from alibi_detect.saving import load_detector

    runtime = await load(saved / "ks", uri="detector", batch_size=50)  # MLServer's name
    own = load_detector(saved / "ks" / "detector")
    x = np.vstack([shifted(n=50), same(n=80)])
    arrays, params = await infer(runtime, x[:10])
    arrays, params = await infer(runtime, x[10:])  # rows 0..49 and 50..99 tested; 30 left
    assert params["window_tests"] == 2
    assert arrays.pop("window_count").tolist() == [30]
    assert_result_equal(arrays, own.predict(x[50:100])["data"])  # the latest window
    assert arrays["is_drift"].tolist() == [0]


async def test_window_metadata_and_requested_outputs(saved: Path) -> None:
    runtime = await load(saved / "ks", uri="detector", window_size=30)
    assert runtime.outputs()[-1] == MetadataTensor(name="window_count", datatype="INT64", shape=[1])
    arrays, _ = await infer(runtime, same(n=10), outputs=["p_val", "window_count"])
    assert list(arrays) == ["window_count"]  # no test yet: p_val left out
    arrays, _ = await infer(runtime, same(n=25), outputs=["p_val", "window_count"])
    assert list(arrays) == ["p_val", "window_count"]
    assert arrays["window_count"].tolist() == [5]


async def test_request_parameters_cannot_apply_to_a_shared_window(saved: Path) -> None:
    runtime = await load(saved / "ks", uri="detector", window_size=30)
    with pytest.raises(BadRequest, match="request parameters return_p_val cannot apply"):
        await infer(runtime, same(n=10), return_p_val=False)
    # the rejected request added nothing
    assert (await infer(runtime, same(n=1)))[0]["window_count"].tolist() == [1]


async def test_window_rejects_the_detectors_online_kind(model_folder: Any) -> None:
    from kernel.errors import SettingsError

    with pytest.raises(SettingsError, match="is for offline detectors; CVMDriftOnline is online"):
        await load(model_folder("online"), uri="detector", window_size=10)


def test_concurrent_requests_through_the_runtime_count_exactly(saved: Path) -> None:
    window = 37
    runtime = asyncio.run(load(saved / "ks", uri="detector", window_size=window))
    clients, calls = 16, 25
    sizes = [
        [random.Random(c * 100 + i).randint(1, 9) for i in range(calls)] for c in range(clients)
    ]
    answers: list[tuple[int, int]] = []
    lock = threading.Lock()
    start = threading.Barrier(clients)

    def client(c: int) -> None:
        start.wait()
        for i, n in enumerate(sizes[c]):
            x = same(seed=c * 1000 + i, n=n)
            response = asyncio.run(runtime.predict(request(x)))
            counts = {out.name: out.data for out in response.outputs}
            assert isinstance(response.parameters, dict)
            with lock:
                answers.append(
                    (response.parameters["window_tests"], int(counts["window_count"][0]))
                )

    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible: races show
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(switch)
    total = sum(map(sum, sizes))
    assert len(answers) == clients * calls
    # every state a caller saw is consistent, and the last one accounts for every instance
    assert all(0 <= count < window for _, count in answers)
    tests, count = max(answers)
    assert (tests, count) == divmod(total, window)
    final, params = asyncio.run(infer(runtime, same(n=1)))
    assert (params["window_tests"], final["window_count"][0]) == divmod(total + 1, window)


def test_window_puts_every_instance_in_exactly_one_window() -> None:
    """Many threads add tagged instances at once: the tested windows and what is left are
    exactly the instances sent, each once, each window full and in arrival order."""
    size = 13
    window = Window(size)
    tested: list[Array] = []
    sent: list[Array] = []
    lock = threading.Lock()

    def test(rows: Array) -> Array:
        tested.append(rows.copy())  # under the window's lock: no other lock needed
        return rows

    def client(c: int) -> None:
        rng = random.Random(c)
        for i in range(40):
            n = rng.randint(0, 11)
            rows = (np.arange(n, dtype=np.int64) + (c * 10_000 + i * 20)).reshape(-1, 1)
            with lock:
                sent.append(rows)
            window.add(rows, test)

    threads = [threading.Thread(target=client, args=(c,)) for c in range(12)]
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(switch)
    everything = np.concatenate(sent)[:, 0]
    assert all(len(rows) == size for rows in tested)
    seen = np.concatenate(tested)[:, 0] if tested else np.empty(0, dtype=np.int64)
    assert len(seen) + window.count == len(everything)
    assert len(set(seen.tolist())) == len(seen)  # nothing tested twice
    assert set(seen.tolist()) <= set(everything.tolist())
    assert len(tested) == len(everything) // size


def test_a_failing_test_drops_only_its_window() -> None:
    window = Window(4)

    def failing(rows: Array) -> Array:
        raise ValueError("bad window")

    with pytest.raises(ValueError, match="bad window"):
        window.add(np.arange(6).reshape(-1, 1), failing)
    assert window.count == 2  # the 2 instances after the failed window wait for the next
    state = window.add(np.arange(2).reshape(-1, 1), lambda rows: rows.sum())
    assert (state.tests, state.count, state.latest) == (1, 0, 4 + 5 + 0 + 1)


@pytest.mark.parametrize(
    ("model", "extra", "keeps"),
    [
        ("ks", {}, False),
        ("tabular", {}, False),
        ("ks", {"window_size": 50}, True),
        ("ks", {"batch_size": 50}, True),
        ("online", {}, True),
        ("fet", {}, True),
    ],
)
def test_which_detectors_the_kernel_must_not_copy(
    saved: Path, model: str, extra: dict[str, Any], keeps: bool
) -> None:
    # Read from the saved files, before (and without) loading the detector.
    from alibi_support import settings

    from kernel_alibi_detect import AlibiDetectRuntime

    chosen = settings(saved / model, uri="detector", **extra)
    assert AlibiDetectRuntime.keeps_state(chosen) is keeps
