"""Loading: a local folder, runs:/ and models:/ URIs against a real sqlite tracking store and
registry, the tracking URI from settings or the environment, and the requirements check."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from mlflow_support import LoadRuntime, Saved, Tracking, rows

from kernel.codecs import encode_request
from kernel.errors import SettingsError

pytestmark = pytest.mark.anyio


async def _predict(runtime: object, saved: Saved) -> np.ndarray:
    response = await runtime.predict(encode_request(rows(saved.frame)))  # type: ignore[attr-defined]
    return np.asarray(response.outputs[0].data)


async def test_local_folder(load_runtime: LoadRuntime, saved: Saved) -> None:
    runtime = await load_runtime(saved.iris)
    assert np.array_equal(
        await _predict(runtime, saved), saved.estimator.predict(rows(saved.frame))
    )


@pytest.mark.parametrize("form", ["runs", "version", "alias"])
async def test_tracked_uris(
    load_runtime: LoadRuntime, saved: Saved, tracking: Tracking, form: str
) -> None:
    uri = {
        "runs": f"runs:/{tracking.run_id}/model",
        "version": f"models:/{tracking.name}/1",
        "alias": f"models:/{tracking.name}@champion",
    }[form]
    runtime = await load_runtime(uri, extra={"tracking_uri": tracking.uri})
    assert np.array_equal(
        await _predict(runtime, saved), saved.estimator.predict(rows(saved.frame))
    )
    download = runtime._source.download  # the temporary copy goes at unload
    assert download is not None
    assert download.exists()
    await runtime.unload()
    assert not download.exists()


async def test_tracking_uri_from_environment(
    load_runtime: LoadRuntime, saved: Saved, tracking: Tracking, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking.uri)
    runtime = await load_runtime(f"models:/{tracking.name}@champion")
    assert np.array_equal(
        await _predict(runtime, saved), saved.estimator.predict(rows(saved.frame))
    )
    await runtime.unload()


async def test_tracked_uri_without_tracking_uri(
    load_runtime: LoadRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    with pytest.raises(SettingsError, match=r"needs a tracking URI.*MLFLOW_TRACKING_URI"):
        await load_runtime("models:/iris-clf/1")


async def test_unknown_registered_model(load_runtime: LoadRuntime, tracking: Tracking) -> None:
    with pytest.raises(Exception, match="nope"):
        await load_runtime("models:/nope/1", extra={"tracking_uri": tracking.uri})


async def test_folder_without_mlmodel(load_runtime: LoadRuntime, tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="no MLmodel file"):
        await load_runtime(tmp_path)


async def test_requirements_mismatch_warns(
    load_runtime: LoadRuntime, saved: Saved, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import shutil

    folder = tmp_path / "old"
    shutil.copytree(saved.iris, folder)
    (folder / "requirements.txt").write_text(
        "mlflow\nscikit-learn==1.0.2\nnot-a-real-package-kernel==1.2\nnumpy>=1\n"
    )
    with caplog.at_level(logging.WARNING, logger="kernel_mlflow"):
        await load_runtime(folder)
    import sklearn

    warning = " ".join(r.getMessage() for r in caplog.records if r.name == "kernel_mlflow")
    assert f"scikit-learn==1.0.2 (installed {sklearn.__version__})" in warning
    assert "not-a-real-package-kernel==1.2 (not installed)" in warning
    assert "numpy" not in warning


async def test_matching_requirements_do_not_warn(
    load_runtime: LoadRuntime, saved: Saved, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="kernel_mlflow"):
        await load_runtime(saved.iris)
    assert not [r for r in caplog.records if r.name == "kernel_mlflow"]
