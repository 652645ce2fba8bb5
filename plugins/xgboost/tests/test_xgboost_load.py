"""Where the runtime finds the model file, every format it reads, and how a load fails."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
import xgboost as xgb
from xgboost_support import LoadRuntime, request, save

from kernel import ModelParameters, ModelSettings
from kernel.errors import SettingsError
from kernel_xgboost import XGBoostRuntime
from kernel_xgboost._files import MODEL_FILES

pytestmark = pytest.mark.anyio


def raw(x: np.ndarray[Any, Any], booster: xgb.Booster) -> np.ndarray[Any, Any]:
    return np.asarray(
        booster.predict(xgb.DMatrix(x, feature_names=booster.feature_names), output_margin=True)
    )


async def served_raw(runtime: XGBoostRuntime, x: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    return np.asarray((await runtime.predict(request(x, outputs=["predict_raw"]))).outputs[0].data)


@pytest.mark.parametrize("file", MODEL_FILES)
async def test_every_well_known_file_name(
    load_runtime: LoadRuntime, binary: xgb.Booster, data: Any, file: str
) -> None:
    x = data[0][:8]
    runtime = await load_runtime(binary, file=file)
    np.testing.assert_allclose(await served_raw(runtime, x), raw(x, binary))
    assert runtime.model_info is not None
    assert runtime.model_info.feature_names == tuple(binary.feature_names or ())


async def test_bst_written_by_xgboost_3_is_ubjson(tmp_path: Path, binary: xgb.Booster) -> None:
    """XGBoost 3 cannot write the legacy binary format: .bst/.model files it writes are UBJSON."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        binary.save_model(str(tmp_path / "model.bst"))
    binary.save_model(str(tmp_path / "model.ubj"))
    assert (tmp_path / "model.bst").read_bytes() == (tmp_path / "model.ubj").read_bytes()


async def test_json_in_a_bst_file(tmp_path: Path, binary: xgb.Booster, data: Any) -> None:
    """The format is read from the content, not the extension."""
    binary.save_model(str(tmp_path / "trees.json"))
    (tmp_path / "model.bst").write_bytes((tmp_path / "trees.json").read_bytes())
    (tmp_path / "trees.json").unlink()
    runtime = XGBoostRuntime(settings(tmp_path))
    await runtime.load()
    x = data[0][:4]
    np.testing.assert_allclose(await served_raw(runtime, x), raw(x, binary))


async def test_pickled_booster(load_runtime: LoadRuntime, binary: xgb.Booster, data: Any) -> None:
    runtime = await load_runtime(binary, file="model.joblib")
    x = data[0][:4]
    np.testing.assert_allclose(await served_raw(runtime, x), raw(x, binary))


async def test_uri_names_a_file_or_a_folder(
    load_runtime: LoadRuntime, binary: xgb.Booster, data: Any
) -> None:
    x = data[0][:4]
    runtime = await load_runtime(binary, file="v1/churn.ubj", uri="v1/churn.ubj")
    np.testing.assert_allclose(await served_raw(runtime, x), raw(x, binary))
    runtime = await load_runtime(binary, file="artefacts/model.ubj", uri="artefacts")
    np.testing.assert_allclose(await served_raw(runtime, x), raw(x, binary))


def settings(folder: Path, uri: str | None = None, **extra: object) -> ModelSettings:
    return ModelSettings(
        name="churn",
        implementation="xgboost",
        path=str(folder),
        parameters=ModelParameters(uri=uri, extra=dict(extra)),
    )


async def test_missing_file_names_what_was_looked_for(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"model\.bst, model\.json, model\.ubj"):
        await XGBoostRuntime(settings(tmp_path)).load()
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no model file in"):
        await XGBoostRuntime(settings(tmp_path, uri="empty")).load()


async def test_legacy_binary_names_the_fix(tmp_path: Path) -> None:
    """XGBoost 3.1 removed reading the pre-2.1 binary format: the load says how to convert it.
    The file starts as XGBoost 1.0-3.0 binary models do ("binf", then the learner header)."""
    (tmp_path / "model.bst").write_bytes(b"binf" + bytes(range(64)) * 8)
    with pytest.raises(ValueError, match="legacy binary format") as info:
        await XGBoostRuntime(settings(tmp_path)).load()
    message = str(info.value)
    assert "model.bst is in XGBoost's legacy binary format" in message
    assert f"XGBoost {xgb.__version__} cannot read" in message
    assert "save_model('model.ubj')" in message


async def test_corrupt_json_is_a_clear_load_error(tmp_path: Path) -> None:
    (tmp_path / "model.json").write_text('{"learner": ')
    with pytest.raises(ValueError, match=r"XGBoost cannot read model\.json"):
        await XGBoostRuntime(settings(tmp_path)).load()


async def test_a_pickle_that_is_not_a_model_fails_the_load(tmp_path: Path) -> None:
    joblib.dump({"trees": [1, 2]}, tmp_path / "model.joblib")
    with pytest.raises(TypeError, match="holds a dict, not an XGBoost model"):
        await XGBoostRuntime(settings(tmp_path)).load()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"nthread": -1}, "nthread must be a whole number >= 0"),
        ({"nthread": "4"}, "nthread must be a whole number >= 0"),
        ({"missing": "often"}, "missing must be a number, not 'often'"),
        ({"predict_fn": "predict_proba"}, "can only produce: predict, predict_raw,"),
    ],
)
async def test_bad_settings_fail_the_load(
    tmp_path: Path, regressor: xgb.XGBRegressor, extra: dict[str, Any], message: str
) -> None:
    save(regressor, tmp_path / "model.ubj")
    with pytest.raises(SettingsError, match=message):
        await XGBoostRuntime(settings(tmp_path, **extra)).load()


async def test_nthread_reaches_the_booster(load_runtime: LoadRuntime, binary: xgb.Booster) -> None:
    import json

    runtime = await load_runtime(binary)
    assert runtime._predictor is not None
    config = json.loads(runtime._predictor.booster.save_config())
    assert config["learner"]["generic_param"]["nthread"] == "1"
    runtime = await load_runtime(binary, extra={"nthread": 2})
    assert runtime._predictor is not None
    config = json.loads(runtime._predictor.booster.save_config())
    assert config["learner"]["generic_param"]["nthread"] == "2"


async def test_unload_releases_the_model(
    load_runtime: LoadRuntime, binary: xgb.Booster, data: Any
) -> None:
    runtime = await load_runtime(binary)
    await runtime.unload()
    with pytest.raises(RuntimeError, match="not loaded"):
        await served_raw(runtime, data[0][:1])
