"""A repository reload of an online detector, through the kernel, hands its state over: the old
copy saves at unload before the new copy loads, so the new copy continues the time step and the
statistics exactly where the old one stopped, and its own final save is the last one written."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from alibi_support import request, same, shifted
from test_alibi_online import SEED, assert_same_results, own_run

import kernel_alibi_detect
from kernel.lifecycle import Kernel
from kernel.settings import ServerSettings

pytestmark = pytest.mark.anyio

Array = np.ndarray[Any, Any]


def serve(root: Path) -> Kernel:
    """A kernel over ``root`` with exactly this plugin (nothing else installed is loaded)."""
    settings = ServerSettings(model_repository_root=str(root), executor_threads=2)
    return Kernel(settings, plugins=[("alibi", kernel_alibi_detect)], autoload=False, environ={})


async def infer(kernel: Kernel, rows: Array) -> dict[str, Array]:
    response = await kernel.infer("online", None, request(rows))
    return {out.name: np.asarray(out.data).reshape(out.shape) for out in response.outputs}


def saved_t(folder: Path) -> int:
    with np.load(folder / "detector-state" / "state.npz") as saved:
        return int(saved["t"])


async def test_reload_continues_the_online_state(model_folder: Callable[[str], Path]) -> None:
    folder = model_folder("online")
    # Saved only at unload within this test: the handover is what carries the state.
    extra = {"seed": SEED, "state_save_freq": 1000}
    settings = {"implementation": "alibi-detect", "parameters": {"uri": "detector", "extra": extra}}
    (folder / "model-settings.json").write_text(json.dumps(settings))
    stream = np.vstack([same(n=30), shifted(n=20)])
    async with serve(folder.parent) as kernel:
        first = await infer(kernel, stream[:30])
        await kernel.load_model("online")
        assert saved_t(folder) == 30  # the old copy saved before the new one loaded
        second = await infer(kernel, stream[30:])
    assert first["time"].tolist() == list(range(1, 31))
    assert second["time"].tolist() == list(range(31, 51))
    expected = own_run(folder, stream)
    assert_same_results(second, {k: v[30:] for k, v in expected.items()})
    assert saved_t(folder) == 50  # the new copy's save is the last
