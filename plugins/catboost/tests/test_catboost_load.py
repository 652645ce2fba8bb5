"""Loading: file names looked for, the format read from the file, settings checked."""

from __future__ import annotations

from pathlib import Path

import pytest
from catboost_support import LoadRuntime, Trained

from kernel import ModelParameters, ModelSettings
from kernel.errors import SettingsError
from kernel_catboost import CatBoostRuntime

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("fmt", ["cbm", "json"])
async def test_well_known_names(load_runtime: LoadRuntime, binary: Trained, fmt: str) -> None:
    runtime = await load_runtime(binary, fmt=fmt)
    assert runtime.info is not None
    assert runtime.info.n_features == 4


async def test_format_is_read_from_the_file_not_its_name(
    load_runtime: LoadRuntime, multiclass: Trained
) -> None:
    runtime = await load_runtime(multiclass, fmt="json", file="weights.bin", uri="weights.bin")
    assert runtime.info is not None
    assert runtime.info.loss == "MultiClass"


async def test_uri_naming_a_folder(load_runtime: LoadRuntime, regressor: Trained) -> None:
    runtime = await load_runtime(regressor, file="nested/model.cbm", uri="nested")
    assert runtime.info is not None
    assert runtime.info.kind == "regressor"


async def test_folder_without_a_model(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    settings = ModelSettings(
        name="m",
        implementation="catboost",
        path=str(tmp_path),
        parameters=ModelParameters(uri="empty"),
    )
    with pytest.raises(FileNotFoundError, match=r"looked for model\.cbm, model\.json, model\.bin"):
        await CatBoostRuntime(settings).load()


async def test_a_file_that_is_not_a_model(tmp_path: Path) -> None:
    (tmp_path / "model.cbm").write_bytes(b"not a model at all")
    settings = ModelSettings(name="m", implementation="catboost", path=str(tmp_path))
    with pytest.raises(ValueError, match="neither a CatBoost binary"):
        await CatBoostRuntime(settings).load()


@pytest.mark.parametrize("threads", [0, -2, "4", 1.5, True])
async def test_bad_thread_count(
    load_runtime: LoadRuntime, binary: Trained, threads: object
) -> None:
    with pytest.raises(SettingsError, match="thread_count"):
        await load_runtime(binary, extra={"thread_count": threads})


async def test_predict_fn_the_model_lacks(load_runtime: LoadRuntime, yetirank: Trained) -> None:
    with pytest.raises(SettingsError) as err:
        await load_runtime(yetirank, extra={"predict_fn": "predict_proba"})
    assert "ranker (YetiRank) can only produce: predict, predict_raw, predict_contrib" in str(
        err.value
    )


async def test_unload_forgets_the_model(load_runtime: LoadRuntime, binary: Trained) -> None:
    runtime = await load_runtime(binary)
    await runtime.unload()
    assert runtime.info is None
    assert runtime.outputs() == []
    assert runtime.inputs() == []
