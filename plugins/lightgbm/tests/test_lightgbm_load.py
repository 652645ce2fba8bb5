"""Where the runtime finds the model file, which formats it reads, and how a load fails."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import joblib
import lightgbm as lgb
import numpy as np
import pytest
from lightgbm_support import ROWS, LoadRuntime, request, save, settings

from kernel.errors import SettingsError
from kernel_lightgbm import LightGBMRuntime
from kernel_lightgbm.runtime import MODEL_FILES

pytestmark = pytest.mark.anyio


async def predicted(runtime: LightGBMRuntime) -> np.ndarray[Any, Any]:
    response = await runtime.predict(request(ROWS, outputs=["predict_raw"]))
    return np.asarray(response.outputs[0].data)


@pytest.mark.parametrize("file", MODEL_FILES)
async def test_loads_each_default_file_name(
    load_runtime: LoadRuntime, binary: lgb.Booster, file: str
) -> None:
    runtime = await load_runtime(binary, file=file)
    np.testing.assert_allclose(await predicted(runtime), binary.predict(ROWS, raw_score=True))


async def test_the_format_comes_from_the_content_not_the_name(
    load_runtime: LoadRuntime, tmp_path: Path, binary: lgb.Booster
) -> None:
    expected = binary.predict(ROWS, raw_score=True)
    text = await load_runtime(binary, file="weights/v1.bin", uri="weights/v1.bin")
    assert text.model is not None
    assert text.model.source == "text"
    np.testing.assert_allclose(await predicted(text), expected)
    # A pickled Booster (not a wrapper) under a text model's name.
    (tmp_path / "pickled").mkdir()
    (tmp_path / "pickled" / "model.txt").write_bytes(pickle.dumps(binary))
    runtime = LightGBMRuntime(settings(tmp_path / "pickled"))
    await runtime.load()
    assert runtime.model is not None
    assert runtime.model.source == "Booster"
    np.testing.assert_allclose(await predicted(runtime), expected)


async def test_uri_may_name_a_folder(load_runtime: LoadRuntime, regression: lgb.Booster) -> None:
    runtime = await load_runtime(regression, file="artefacts/model.bst", uri="artefacts")
    np.testing.assert_allclose(await predicted(runtime), regression.predict(ROWS, raw_score=True))


async def test_the_objective_decides_the_kind(
    load_runtime: LoadRuntime,
    binary: lgb.Booster,
    multiclass: lgb.Booster,
    poisson: lgb.Booster,
    ranker: lgb.Booster,
    classifier: lgb.LGBMClassifier,
) -> None:
    found = []
    for model, file in [
        (binary, "model.txt"),
        (multiclass, "model.txt"),
        (poisson, "model.txt"),
        (ranker, "model.txt"),
        (classifier, "model.joblib"),
    ]:
        loaded = (await load_runtime(model, file=file)).model
        assert loaded is not None
        found.append((loaded.kind, loaded.objective, loaded.n_classes))
    assert found == [
        ("classifier", "binary", 2),
        ("classifier", "multiclass", 3),
        ("regressor", "poisson", 1),
        ("ranker", "lambdarank", 1),
        ("classifier", "multiclass", 3),
    ]


async def test_missing_file_names_what_was_looked_for(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"model\.txt, model\.bst, model\.model"):
        await LightGBMRuntime(settings(tmp_path)).load()
    with pytest.raises(FileNotFoundError, match=r"nope\.txt"):
        await LightGBMRuntime(settings(tmp_path, uri="nope.txt")).load()
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no model file in"):
        await LightGBMRuntime(settings(tmp_path, uri="empty")).load()


async def test_a_file_that_is_no_model_fails_the_load(tmp_path: Path) -> None:
    (tmp_path / "model.txt").write_text("hello, this is not a model\n")
    with pytest.raises(ValueError, match="neither a LightGBM text model"):
        await LightGBMRuntime(settings(tmp_path)).load()
    (tmp_path / "model.txt").unlink()
    joblib.dump({"weights": [1, 2]}, tmp_path / "model.joblib")
    with pytest.raises(TypeError, match="holds dict, not a fitted LightGBM model"):
        await LightGBMRuntime(settings(tmp_path)).load()
    joblib.dump(lgb.LGBMClassifier(), tmp_path / "model.joblib")
    with pytest.raises(TypeError, match="holds an unfitted LightGBM estimator"):
        await LightGBMRuntime(settings(tmp_path)).load()


@pytest.mark.parametrize(
    ("cut", "missing"),
    [("Tree=3\n", "'end of trees'"), ("[num_leaves: 7]\n", "'end of parameters'")],
)
async def test_a_text_model_cut_short_fails_the_load(
    tmp_path: Path, binary: lgb.Booster, cut: str, missing: str
) -> None:
    # LightGBM itself aborts the process on these: the runtime must refuse them first.
    text = binary.model_to_string()
    (tmp_path / "model.txt").write_text(text[: text.index(cut) + len(cut) + 5])
    with pytest.raises(ValueError, match=f"incomplete LightGBM text model \\(no {missing} line"):
        await LightGBMRuntime(settings(tmp_path)).load()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"predict_fn": "predict_proba"}, r"predict_fn is 'predict_proba'.*regression regressor"),
        ({"predict_fn": "transform"}, r"can only produce: predict, predict_raw, predict_contrib"),
        ({"num_threads": -1}, r"num_threads must be a whole number >= 0.*not -1"),
        ({"num_threads": "2"}, r"num_threads .* not '2'"),
        ({"num_threads": True}, r"num_threads .* not True"),
    ],
)
async def test_bad_settings_fail_the_load(
    tmp_path: Path, regression: lgb.Booster, extra: dict[str, Any], message: str
) -> None:
    save(regression, tmp_path / "model.txt")
    with pytest.raises(SettingsError, match=message):
        await LightGBMRuntime(settings(tmp_path, extra=extra)).load()


async def test_unload_releases_the_model(load_runtime: LoadRuntime, binary: lgb.Booster) -> None:
    runtime = await load_runtime(binary)
    await runtime.unload()
    assert runtime.model is None
    with pytest.raises(RuntimeError, match="not loaded"):
        await predicted(runtime)
