"""A repository reload of a model that keeps state (``Runtime.keeps_state``) hands the state
over: the old copy drains, unloads and saves before the new copy loads, so the new copy starts
from the old copy's final state and no save of the old copy lands after the new one's. Requests
in the gap get ``ModelNotReady`` (503) saying why. A model that keeps no state still swaps once
the new copy is ready, and a failed handover brings the previous copy back.

The runtime is a real one with real state (``tests/support/ledger.py``)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import pytest
from core_helpers import make_kernel, request

from kernel.errors import ModelLoadError, ModelNotReady, status_code
from kernel.lifecycle import Kernel

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))
from ledger import events, saved, write_ledger

pytestmark = pytest.mark.anyio


async def count(kernel: Kernel, **parameters: Any) -> int:
    response = await kernel.infer("m", None, request([0, 0, 0, 0], **parameters))
    return int(response.outputs[0].data[0])


async def reload_hands_the_state_over(tmp_path: Path, **more: Any) -> None:
    folder = write_ledger(tmp_path / "m", "old", **more)
    release = tmp_path / "release"
    async with make_kernel(tmp_path) as kernel:
        assert [await count(kernel), await count(kernel)] == [1, 2]
        held = asyncio.create_task(count(kernel, wait_for=str(release)))
        await asyncio.sleep(0.2)  # the third request is running on the old copy
        write_ledger(folder, "new", **more)
        reload = asyncio.create_task(kernel.load_model("m"))
        await asyncio.sleep(0.3)
        # The old copy drains before it unloads: the reload waits, and new requests are
        # refused with a 503 that says why, rather than served by either copy.
        assert not reload.done()
        with pytest.raises(ModelNotReady, match="keeps state") as refused:
            await count(kernel)
        assert status_code(refused.value) == 503
        assert [(e.state, e.reason[:9]) for e in await kernel.repository_index()] == [
            ("LOADING", "reloading")
        ]
        assert not kernel.ready()
        release.touch()
        assert await held == 3  # the old copy's last request
        await reload
        # The new copy loaded after the old one saved, so it continues from 3.
        assert events(folder) == ["load old 0", "unload old 3", "load new 3"]
        assert [await count(kernel), await count(kernel)] == [4, 5]
        assert kernel.ready()
    # Nothing of the old copy's is written after the new copy's final save.
    assert events(folder)[-1] == "unload new 5"
    assert saved(folder) == 5


async def test_reload_of_a_stateful_model_hands_the_state_over(tmp_path: Path) -> None:
    await reload_hands_the_state_over(tmp_path)


@pytest.mark.slow
async def test_reload_of_a_stateful_model_in_a_worker_pool_hands_the_state_over(
    tmp_path: Path,
) -> None:
    # The kernel cannot ask the copy in the worker; it resolves the runtime's class itself.
    await reload_hands_the_state_over(tmp_path, parallel_workers=1)


async def test_reload_of_a_model_without_state_swaps_once_the_new_copy_is_ready(
    tmp_path: Path,
) -> None:
    folder = write_ledger(tmp_path / "m", "old", stateful=False)
    release = tmp_path / "release"
    async with make_kernel(tmp_path) as kernel:
        assert await count(kernel) == 1
        held = asyncio.create_task(count(kernel, wait_for=str(release)))
        await asyncio.sleep(0.2)
        write_ledger(folder, "new", stateful=False)
        await kernel.load_model("m")  # does not wait for the old copy's request
        assert not held.done()
        assert await count(kernel) == 1  # the new copy loaded from the (absent) saved state
        release.touch()
        assert await held == 2
        await kernel.wait_loaded()
    assert events(folder)[:3] == ["load old 0", "load new 0", "unload old 2"]


async def test_failed_handover_brings_the_previous_copy_back(tmp_path: Path) -> None:
    folder = write_ledger(tmp_path / "m", "old")
    async with make_kernel(tmp_path) as kernel:
        assert [await count(kernel), await count(kernel)] == [1, 2]
        write_ledger(folder, "new", extra={"fail": True})
        with pytest.raises(ModelLoadError, match=r"broken \(its previous copy serves again\)"):
            await kernel.load_model("m")
        # The previous settings loaded again, from the state the old copy saved.
        assert events(folder) == ["load old 0", "unload old 2", "load old 2"]
        assert await count(kernel) == 3
        assert kernel.ready()
        index = await kernel.repository_index()
        assert [(e.state, e.reason) for e in index] == [("READY", "")]


async def test_failed_handover_whose_previous_copy_cannot_load_again(tmp_path: Path) -> None:
    folder = write_ledger(tmp_path / "m", "old")
    async with make_kernel(tmp_path) as kernel:
        assert await count(kernel) == 1
        write_ledger(folder, "new", extra={"fail": True})
        (folder / "state.json").mkdir()  # the old copy's save fails, and so would any load
        with pytest.raises(ModelLoadError, match="the new settings are broken"):
            await kernel.load_model("m")
        with pytest.raises(ModelNotReady, match=r"UNAVAILABLE.*the new settings are broken"):
            await count(kernel)
