"""Outlier detectors, which need alibi-detect's TensorFlow extra to be saved and loaded:
IForest, Mahalanobis (online: every batch updates its running mean and covariance) and a tiny
OutlierAE (a TensorFlow autoencoder), fitted on generated data and saved with
``save_detector``. Served by the runtime in-process and by a real ``kernel serve`` over
tritonclient, each answer is compared with the detector's own ``predict`` on the same data;
planted outliers are flagged and inliers are not.

Runs in the ``alibi-detect-tf`` tox environment; skipped where TensorFlow is not installed.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

# alibi-detect 0.13 saves TensorFlow models in the Keras 2 formats (HDF5 and TF checkpoints),
# which Keras 3 (tf.keras of TensorFlow >= 2.16) refuses: it needs Keras 2 (the tf-keras
# package its extra installs), selected by this variable before TensorFlow is first imported.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

tf = pytest.importorskip("tensorflow")

from alibi_support import assert_result_equal, infer, load, save  # noqa: E402

sys.path.insert(0, str(Path(__file__).parents[3] / "tests" / "e2e"))
import e2e_server  # noqa: E402

pytestmark = [
    pytest.mark.anyio,
    # What alibi-detect 0.13's legacy saving format makes tf-keras and alibi-detect say, and
    # tf-keras building a layer (it passes a float to random.randint).
    pytest.mark.filterwarnings("ignore:You are saving your model as an HDF5 file"),
    pytest.mark.filterwarnings("ignore:Loading of meta.dill and meta.pickle files"),
    pytest.mark.filterwarnings("ignore:non-integer arguments to randrange"),
]

Array = np.ndarray[Any, Any]

FEATURES = 4
N_TRAIN = 500
N_INLIERS = 20
#: Every feature of a planted outlier is moved by this many standard deviations.
SHIFT = 6.0
DETECTORS = ("iforest", "mahalanobis", "ae")


def training(seed: int = 0) -> Array:
    return np.random.default_rng(seed).normal(size=(N_TRAIN, FEATURES)).astype(np.float32)


def batch(seed: int, outliers: int = 5) -> tuple[Array, Array]:
    """Inliers near the centre of the training distribution with ``outliers`` planted rows
    (shifted by ``SHIFT``) spread among them; the rows and the 0/1 mask of the planted ones."""
    rng = np.random.default_rng(seed)
    x = rng.normal(scale=0.5, size=(N_INLIERS + outliers, FEATURES)).astype(np.float32)
    planted = np.zeros(len(x), dtype=np.int64)
    planted[rng.choice(len(x), size=outliers, replace=False)] = 1
    x[planted == 1] += np.float32(SHIFT)
    return x, planted


def autoencoder() -> Any:
    """An OutlierAE with a two-layer dense encoder and decoder, trained for a few epochs."""
    from alibi_detect.od import OutlierAE

    keras = tf.keras
    assert keras.layers.Dense.__module__.startswith("tf_keras."), (
        "tf.keras is Keras 3: alibi-detect 0.13 saves autoencoders only with Keras 2 (tf-keras);"
        " set TF_USE_LEGACY_KERAS=1 before TensorFlow is first imported"
    )
    keras.utils.set_random_seed(0)
    encoder = keras.Sequential(
        [
            keras.layers.InputLayer(input_shape=(FEATURES,)),
            keras.layers.Dense(8, activation="relu"),
            keras.layers.Dense(2),
        ]
    )
    decoder = keras.Sequential(
        [
            keras.layers.InputLayer(input_shape=(2,)),
            keras.layers.Dense(8, activation="relu"),
            keras.layers.Dense(FEATURES),
        ]
    )
    detector = OutlierAE(encoder_net=encoder, decoder_net=decoder)
    detector.fit(training(), epochs=5, batch_size=64, verbose=False)
    detector.infer_threshold(training(1), threshold_perc=99)
    return detector


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``<root>/{iforest,mahalanobis,ae}/detector``, each model folder with its
    ``model-settings.json``."""
    from alibi_detect.od import IForest, Mahalanobis

    root = tmp_path_factory.mktemp("outliers")
    iforest = IForest(n_estimators=100)
    iforest.fit(training())
    iforest.infer_threshold(training(1), threshold_perc=99)
    mahalanobis = Mahalanobis(n_components=FEATURES)
    # An online detector: the threshold's own scoring is also its first update.
    mahalanobis.infer_threshold(training(), threshold_perc=99)
    for name, detector in zip(DETECTORS, (iforest, mahalanobis, autoencoder()), strict=True):
        save(detector, root / name / "detector")
        settings = {
            "name": name,
            "implementation": "alibi-detect",
            "parameters": {"uri": "detector"},
        }
        (root / name / "model-settings.json").write_text(json.dumps(settings))
    return root


def own(saved: Path, name: str) -> Any:
    """The detector as ``load_detector`` reads it back: what the runtime is compared with."""
    from alibi_detect.saving import load_detector

    return load_detector(saved / name / "detector")


# The fields each detector answers by default, and their dtypes (scores of the float32 batch).
FIELDS = {
    "iforest": {"is_outlier": "int64", "instance_score": "float64"},
    "mahalanobis": {"is_outlier": "int64", "instance_score": "float64"},
    "ae": {"is_outlier": "int64", "instance_score": "float32", "feature_score": "float32"},
}


@pytest.mark.parametrize("name", DETECTORS)
async def test_planted_outliers_are_flagged_as_the_detector_flags_them(
    saved: Path, name: str
) -> None:
    runtime = await load(saved / name, uri="detector")
    detector = own(saved, name)
    for seed in (10, 11):  # Mahalanobis: both answers follow the same two updates
        x, planted = batch(seed)
        arrays, params = await infer(runtime, x)
        assert {k: str(v.dtype) for k, v in arrays.items()} == FIELDS[name]
        assert arrays["is_outlier"].tolist() == planted.tolist()
        assert arrays["instance_score"].shape == (len(x),)
        if name == "ae":
            assert arrays["feature_score"].shape == x.shape
        assert_result_equal(arrays, detector.predict(x)["data"])
        assert params["detector_type"] == "outlier"
        assert params["name"] == detector.meta["name"]
        assert params["online"] is (name == "mahalanobis")


async def test_mahalanobis_keeps_learning_across_requests(saved: Path) -> None:
    """Each request updates the served detector's running statistics, as ``predict`` does: the
    same batch sent twice scores differently, and the same as a detector fed the same batches."""
    runtime = await load(saved / "mahalanobis", uri="detector")
    detector = own(saved, "mahalanobis")
    x, _ = batch(12)
    first, _ = await infer(runtime, x)
    second, _ = await infer(runtime, x)
    assert not np.array_equal(first["instance_score"], second["instance_score"])
    assert_result_equal(first, detector.predict(x)["data"])
    assert_result_equal(second, detector.predict(x)["data"])
    assert detector.n == N_TRAIN + 2 * len(x)
    assert runtime.detector.n == detector.n


async def test_request_parameters_reach_the_outlier_detector(saved: Path) -> None:
    runtime = await load(saved / "ae", uri="detector")
    detector = own(saved, "ae")
    x, planted = batch(13)
    arrays, _ = await infer(runtime, x, return_feature_score=False, outlier_perc=50)
    assert set(arrays) == {"is_outlier", "instance_score"}
    assert_result_equal(
        arrays, detector.predict(x, return_feature_score=False, outlier_perc=50)["data"]
    )
    # Scored on its worst half of the features, a planted outlier still stands out.
    assert arrays["is_outlier"].tolist() == planted.tolist()
    arrays, _ = await infer(runtime, x, outlier_type="feature")
    assert arrays["is_outlier"].shape == x.shape  # one flag per feature
    assert_result_equal(arrays, detector.predict(x, outlier_type="feature")["data"])
    # Feature flags compare each feature's error with the instance threshold: planted rows
    # have some flagged, inliers none.
    assert arrays["is_outlier"].max(axis=1).tolist() == planted.tolist()


@pytest.fixture(scope="module")
def server(saved: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[e2e_server.Server]:
    # The server imports TensorFlow and alibi-detect before it is ready: tens of seconds on a
    # busy 2-core machine, within the helper's start-up allowance (START_TIMEOUT).
    with e2e_server.serve(saved, tmp_path_factory.mktemp("logs")) as running:
        yield running


def triton_infer(
    server: e2e_server.Server, model: str, x: Array, **parameters: Any
) -> tuple[dict[str, Array], dict[str, Any]]:
    """One request over tritonclient's HTTP client, binary tensors both ways."""
    import tritonclient.http as httpclient

    with httpclient.InferenceServerClient(server.http_address, network_timeout=120) as client:
        tensor = httpclient.InferInput("x", list(x.shape), "FP32")
        tensor.set_data_from_numpy(x, binary_data=True)
        result = client.infer(model, [tensor], parameters=parameters or None)
        response = result.get_response()
        arrays = {out["name"]: result.as_numpy(out["name"]) for out in response["outputs"]}
        return arrays, response.get("parameters", {})


def test_kernel_serve_answers_as_each_detector(server: e2e_server.Server, saved: Path) -> None:
    for name in DETECTORS:
        detector = own(saved, name)
        for seed in (20, 21):
            x, planted = batch(seed)
            arrays, params = triton_infer(server, name, x)
            assert arrays["is_outlier"].tolist() == planted.tolist(), name
            expected = detector.predict(x)["data"]
            if name == "ae":
                # The server's process runs the same network: equal up to float rounding.
                np.testing.assert_allclose(
                    arrays.pop("feature_score"), expected.pop("feature_score"), rtol=1e-5
                )
                np.testing.assert_allclose(
                    arrays.pop("instance_score"), expected.pop("instance_score"), rtol=1e-5
                )
                np.testing.assert_array_equal(arrays["is_outlier"], expected["is_outlier"])
            else:
                assert_result_equal(arrays, expected)
            assert params["detector_type"] == "outlier"
            assert params["name"] == detector.meta["name"]


def test_kernel_serve_passes_request_parameters(server: e2e_server.Server, saved: Path) -> None:
    x, planted = batch(22)
    arrays, _ = triton_infer(server, "iforest", x, return_instance_score=False)
    assert set(arrays) == {"is_outlier"}
    assert arrays["is_outlier"].tolist() == planted.tolist()
