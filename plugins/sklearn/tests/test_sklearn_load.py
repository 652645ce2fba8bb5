"""Where the runtime finds the model file, and how a load fails."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn_support import LoadRuntime, save

from kernel import ModelParameters, ModelSettings
from kernel.errors import SettingsError
from kernel_sklearn import SKLearnRuntime
from protocol.messages import InferenceRequest, RequestInput

pytestmark = pytest.mark.anyio

ROW = np.array([[6.3, 3.3, 6.0, 2.5]])


async def predicted(runtime: SKLearnRuntime) -> np.ndarray[Any, Any]:
    req = InferenceRequest(inputs=[RequestInput(name="x", shape=[1, 4], datatype="FP64", data=ROW)])
    return np.asarray((await runtime.predict(req)).outputs[0].data)


@pytest.mark.parametrize("file", ["model.joblib", "model.pkl", "model.pickle"])
async def test_loads_each_default_file_name(
    load_runtime: LoadRuntime, logistic: LogisticRegression, file: str
) -> None:
    runtime = await load_runtime(logistic, file=file)
    np.testing.assert_array_equal(await predicted(runtime), logistic.predict(ROW))


async def test_uri_names_another_file(
    load_runtime: LoadRuntime, logistic: LogisticRegression
) -> None:
    runtime = await load_runtime(logistic, file="weights/iris-v1.bin", uri="weights/iris-v1.bin")
    np.testing.assert_array_equal(await predicted(runtime), logistic.predict(ROW))


async def test_uri_may_name_a_folder(
    load_runtime: LoadRuntime, logistic: LogisticRegression
) -> None:
    runtime = await load_runtime(logistic, file="artefacts/model.pkl", uri="artefacts")
    np.testing.assert_array_equal(await predicted(runtime), logistic.predict(ROW))


def settings(folder: Path, uri: str | None = None, **extra: object) -> ModelSettings:
    return ModelSettings(
        name="iris",
        implementation="sklearn",
        path=str(folder),
        parameters=ModelParameters(uri=uri, extra=dict(extra)),
    )


async def test_missing_file_names_what_was_looked_for(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"model\.joblib, model\.pkl, model\.pickle"):
        await SKLearnRuntime(settings(tmp_path)).load()
    with pytest.raises(FileNotFoundError, match=r"nope\.joblib"):
        await SKLearnRuntime(settings(tmp_path, uri="nope.joblib")).load()
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no model file in"):
        await SKLearnRuntime(settings(tmp_path, uri="empty")).load()


async def test_predict_fn_the_model_lacks_fails_the_load(
    tmp_path: Path, logistic: LogisticRegression
) -> None:
    save(logistic, tmp_path / "model.joblib")
    runtime = SKLearnRuntime(settings(tmp_path, predict_fn="transform"))
    message = r"predict_fn is 'transform'.*can only produce: predict,"
    with pytest.raises(SettingsError, match=message):
        await runtime.load()


async def test_a_pickle_that_is_not_an_estimator_fails_the_load(tmp_path: Path) -> None:
    save({"weights": [1, 2, 3]}, tmp_path / "model.joblib")
    with pytest.raises(TypeError, match="holds a dict, which has none of predict"):
        await SKLearnRuntime(settings(tmp_path)).load()


async def test_unload_releases_the_model(
    load_runtime: LoadRuntime, logistic: LogisticRegression
) -> None:
    runtime = await load_runtime(logistic)
    await runtime.unload()
    with pytest.raises(RuntimeError, match="not loaded"):
        await predicted(runtime)
