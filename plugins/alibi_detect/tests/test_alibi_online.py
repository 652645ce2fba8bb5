"""Online drift detectors: each instance is one update, outputs stacked per instance; the state is
saved every ``state_save_freq`` updates and at unload, atomically, and a restart continues the
time step and the statistics."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from alibi_support import infer, load, same, shifted

from kernel_alibi_detect import AlibiDetectRuntime

pytestmark = pytest.mark.anyio

Array = np.ndarray[Any, Any]
Folder = Callable[[str], Path]

#: Online detectors draw their thresholds at load; the same seed draws the same ones.
SEED = 7


def own_run(folder: Path, rows: Array) -> dict[str, Array]:
    """The detector's own per-instance results over ``rows``, stacked like the runtime's."""
    from alibi_detect.saving import load_detector

    np.random.seed(SEED)
    detector = load_detector(folder / "detector")
    np.random.seed(SEED + 1)  # FETDriftOnline breaks ties at random while predicting
    results = [detector.predict(row)["data"] for row in rows]
    return {
        name: np.stack([np.asarray(r[name]) for r in results])
        for name in results[0]
        if results[0][name] is not None
    }


def saved_t(runtime: AlibiDetectRuntime) -> int:
    state = Path(runtime.settings.path) / "detector-state" / "state.npz"
    with np.load(state) as saved:
        return int(saved["t"])


def assert_same_results(arrays: dict[str, Array], expected: dict[str, Array]) -> None:
    assert set(arrays) == set(expected)
    for name, value in expected.items():
        np.testing.assert_array_equal(arrays[name], value, err_msg=name)


async def test_each_row_is_one_update_equal_to_the_detectors_own(model_folder: Folder) -> None:
    folder = model_folder("online")
    runtime = await load(folder, uri="detector", seed=SEED)
    stream = np.vstack([same(n=30), shifted(n=30)])
    first, params = await infer(runtime, stream[:25])
    second, _ = await infer(runtime, stream[25:])
    expected = own_run(folder, stream)
    assert_same_results({k: np.concatenate([first[k], second[k]]) for k in first}, expected)
    assert first["time"].tolist() == list(range(1, 26))
    assert first["test_stat"].shape == (25, 1, 3)  # [rows, windows, features]
    assert params["online"] is True
    assert params["name"] == "CVMDriftOnline"
    assert not first["is_drift"].any()  # unshifted stream: no drift
    assert second["is_drift"].any()  # the shift is found


async def test_fet_online_detector(model_folder: Folder) -> None:
    folder = model_folder("fet")
    runtime = await load(folder, uri="detector", seed=SEED)
    stream = np.vstack([np.zeros((25, 1)), np.ones((25, 1))]).astype(np.float32)
    np.random.seed(SEED + 1)
    arrays, _ = await infer(runtime, stream)
    assert_same_results(arrays, own_run(folder, stream))
    assert arrays["is_drift"][-1] == 1  # a stream of ones after a 30% reference
    assert [t.shape for t in runtime.outputs() if t.name == "is_drift"] == [[-1]]


async def test_state_is_saved_every_n_updates_and_at_unload(model_folder: Folder) -> None:
    folder = model_folder("online")
    runtime = await load(folder, uri="detector", seed=SEED, state_save_freq=10)
    assert not (folder / "detector-state").exists()
    await infer(runtime, same(n=9))
    assert not (folder / "detector-state").exists()
    await infer(runtime, same(n=16))  # updates 10 and 20 save
    assert saved_t(runtime) == 20
    await runtime.unload()  # 5 updates since: saved
    assert saved_t(runtime) == 25
    assert sorted(p.name for p in folder.iterdir()) == ["detector", "detector-state"]


async def test_restart_continues_time_and_statistics(model_folder: Folder) -> None:
    folder = model_folder("online")
    stream = np.vstack([same(n=30), shifted(n=20)])
    before = await load(folder, uri="detector", seed=SEED)
    await infer(before, stream[:30])
    await before.unload()
    after = await load(folder, uri="detector", seed=SEED)
    assert after.detector.t == 30
    arrays, _ = await infer(after, stream[30:])
    expected = own_run(folder, stream)
    assert_same_results(arrays, {k: v[30:] for k, v in expected.items()})
    assert arrays["time"].tolist() == list(range(31, 51))


async def test_a_crash_loses_at_most_the_updates_since_the_last_save(
    model_folder: Folder,
) -> None:
    folder = model_folder("online")
    running = await load(folder, uri="detector", seed=SEED, state_save_freq=10)
    await infer(running, same(n=27))
    # the process dies: no unload; a new one starts from the last periodic save
    restarted = await load(folder, uri="detector", seed=SEED, state_save_freq=10)
    assert restarted.detector.t == 20


async def test_a_crash_between_the_renames_keeps_the_previous_state(
    model_folder: Folder, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = model_folder("online")
    runtime = await load(folder, uri="detector", seed=SEED, state_save_freq=10)
    await infer(runtime, same(n=10))  # a complete save at t=10
    real_rename = os.rename

    def crash_on_second_rename(src: Any, dst: Any) -> None:
        if Path(src).name.startswith("detector-state.tmp-"):
            raise OSError("simulated crash after moving the previous state aside")
        real_rename(src, dst)

    monkeypatch.setattr(os, "rename", crash_on_second_rename)
    await infer(runtime, same(n=10))  # the save at t=20 dies between its renames
    monkeypatch.undo()
    assert not (folder / "detector-state").exists()
    assert (folder / "detector-state.old").is_dir()
    restarted = await load(folder, uri="detector", seed=SEED)
    assert restarted.detector.t == 10  # the previous state, complete
    assert sorted(p.name for p in folder.iterdir()) == ["detector", "detector-state"]


async def test_a_crash_while_writing_leaves_the_previous_state_loadable(
    model_folder: Folder,
) -> None:
    folder = model_folder("online")
    runtime = await load(folder, uri="detector", seed=SEED, state_save_freq=10)
    await infer(runtime, same(n=10))
    # what a crash in the middle of writing the t=20 state leaves: a partial temporary folder
    partial = folder / "detector-state.tmp-crashed"
    partial.mkdir()
    (partial / "state.npz").write_bytes(b"PK\x03\x04 truncated")
    restarted = await load(folder, uri="detector", seed=SEED)
    assert restarted.detector.t == 10
    assert not partial.exists()  # cleaned up


async def test_unwritable_state_folder_keeps_serving(model_folder: Folder) -> None:
    folder = model_folder("online")
    (folder / "blocked").write_text("a file where the state folder would go")
    runtime = await load(
        folder, uri="detector", seed=SEED, state_save_freq=5, state_dir="blocked/state"
    )
    arrays, _ = await infer(runtime, same(n=12))  # saves fail (logged); answers go on
    assert arrays["time"].tolist() == list(range(1, 13))
    await runtime.unload()


async def test_state_dir_setting(model_folder: Folder, tmp_path: Path) -> None:
    folder = model_folder("online")
    elsewhere = tmp_path / "states" / "drift"
    runtime = await load(
        folder, uri="detector", seed=SEED, state_save_freq=4, state_dir=str(elsewhere)
    )
    await infer(runtime, same(n=4))
    assert (elsewhere / "state.npz").is_file()
    assert (await load(folder, uri="detector", seed=SEED, state_dir=str(elsewhere))).detector.t == 4


async def test_the_seed_makes_thresholds_reproducible(model_folder: Folder) -> None:
    folder = model_folder("online")
    rows = shifted(n=40)
    one = await infer(await load(folder, uri="detector", seed=3), rows)
    two = await infer(await load(folder, uri="detector", seed=3), rows)
    np.testing.assert_array_equal(one[0]["threshold"], two[0]["threshold"])
    other = await infer(await load(folder, uri="detector", seed=4), rows)
    assert not np.array_equal(one[0]["threshold"], other[0]["threshold"], equal_nan=True)
