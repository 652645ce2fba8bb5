"""Offline drift detectors through the runtime: each request is the batch tested, every result
field is an output equal to the detector's own ``predict`` on the same data, and shifted data is
detected while unshifted data is not."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from alibi_support import (
    N_TEST,
    assert_result_equal,
    categorical,
    infer,
    load,
    mixed,
    same,
    shifted,
)

from kernel import BadRequest
from kernel.errors import SettingsError
from protocol.messages import MetadataTensor

pytestmark = pytest.mark.anyio

Array = np.ndarray[Any, Any]

#: detector -> (unshifted batch, shifted batch)
BATCHES: dict[str, tuple[Array, Array]] = {
    "ks": (same(), shifted()),
    "cvm": (same(), shifted()),
    "tabular": (mixed(4, N_TEST), mixed(2, N_TEST, drift=True)),
    "chisquare": (categorical(4, N_TEST), categorical(2, N_TEST, skewed=True)),
}


@pytest.mark.parametrize("name", list(BATCHES))
async def test_drift_is_detected_and_matches_the_detector(saved: Path, name: str) -> None:
    from alibi_detect.saving import load_detector

    runtime = await load(saved / name, uri="detector")
    own = load_detector(saved / name / "detector")
    unshifted, drifted = BATCHES[name]
    for x, drift in ((unshifted, 0), (drifted, 1)):
        arrays, params = await infer(runtime, x)
        assert arrays["is_drift"].tolist() == [drift]
        assert_result_equal(arrays, own.predict(x)["data"])
        assert params["detector_type"] == "drift"
        assert params["online"] is False
        assert params["name"] == own.meta["name"]


async def test_outputs_have_real_shapes_and_dtypes(saved: Path) -> None:
    runtime = await load(saved / "ks", uri="detector")
    arrays, _ = await infer(runtime, shifted())
    assert {k: (v.dtype.kind, v.shape) for k, v in arrays.items()} == {
        "is_drift": ("i", (1,)),  # scalars are [1]
        "threshold": ("f", (1,)),
        "p_val": ("f", (3,)),  # one per feature
        "distance": ("f", (3,)),
    }


async def test_metadata_lists_inputs_outputs_and_the_detector(saved: Path) -> None:
    runtime = await load(saved / "tabular", uri="detector")
    [tensor] = runtime.inputs()
    assert (tensor.name, tensor.datatype, tensor.shape) == ("input-0", "FP32", [-1, 4])
    assert isinstance(tensor.parameters, dict)
    assert tensor.parameters["detector"] == "TabularDrift"
    assert tensor.parameters["detector_type"] == "drift"
    assert tensor.parameters["online"] is False
    assert tensor.parameters["alibi_detect_version"] == "0.13.0"
    assert runtime.metadata_parameters() == tensor.parameters
    assert runtime.outputs() == [
        MetadataTensor(name="is_drift", datatype="INT64", shape=[1]),
        MetadataTensor(name="distance", datatype="FP32", shape=[4]),
        MetadataTensor(name="p_val", datatype="FP32", shape=[4]),
        MetadataTensor(name="threshold", datatype="FP64", shape=[1]),
    ]


async def test_requested_outputs_only_in_the_requested_order(saved: Path) -> None:
    runtime = await load(saved / "ks", uri="detector")
    arrays, _ = await infer(runtime, shifted(), outputs=["p_val", "is_drift"])
    assert list(arrays) == ["p_val", "is_drift"]
    with pytest.raises(BadRequest, match=r"cannot produce output 'score'.*is_drift"):
        await infer(runtime, shifted(), outputs=["score"])


async def test_request_parameters_choose_what_is_returned(saved: Path) -> None:
    from alibi_detect.saving import load_detector

    runtime = await load(saved / "ks", uri="detector")
    own = load_detector(saved / "ks" / "detector")
    x = shifted()
    arrays, _ = await infer(runtime, x, return_p_val=False, drift_type="feature")
    assert "p_val" not in arrays  # None fields are left out
    assert arrays["is_drift"].shape == (3,)  # per feature
    assert_result_equal(arrays, own.predict(x, return_p_val=False, drift_type="feature")["data"])
    # the request's choice is its own: the next request gets the defaults
    assert "p_val" in (await infer(runtime, x))[0]


async def test_settings_predict_parameters_are_the_defaults(saved: Path) -> None:
    runtime = await load(
        saved / "cvm", uri="detector", predict_parameters={"return_distance": False}
    )
    arrays, _ = await infer(runtime, shifted())
    assert "distance" not in arrays
    assert "p_val" in arrays
    assert "distance" in (await infer(runtime, shifted(), return_distance=True))[0]
    assert [t.name for t in runtime.outputs()] == ["is_drift", "p_val", "threshold"]


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        (
            {"return_p_val": "yes"},
            r"request parameter return_p_val must be true or false, not 'yes'",
        ),
        ({"drift_type": "window"}, r"drift_type must be 'batch' or 'feature', not 'window'"),
        (
            {"return_test_stat": True},
            r"return_test_stat is not a keyword argument of this detector's predict"
            r" \(it takes: drift_type, return_p_val, return_distance\)",
        ),
    ],
)
async def test_bad_request_parameters_are_named(
    saved: Path, parameters: dict[str, Any], message: str
) -> None:
    runtime = await load(saved / "ks", uri="detector")
    with pytest.raises(BadRequest, match=message):
        await infer(runtime, shifted(), **parameters)


async def test_other_request_parameters_are_not_predict_arguments(saved: Path) -> None:
    runtime = await load(saved / "ks", uri="detector")
    arrays, _ = await infer(runtime, shifted(), content_type="np", binary_data_output=True)
    assert arrays["is_drift"].tolist() == [1]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            {"predict_parameters": {"return_x": True}},
            r"predict_parameters.return_x is not a keyword",
        ),
        ({"predict_parameters": {"drift_type": 3}}, r"predict_parameters.drift_type must be"),
        ({"predict_parameters": [1]}, r"predict_parameters must be an object"),
        ({"window_size": 0}, r"window_size must be a whole number >= 1"),
        ({"batch_size": "10"}, r"batch_size must be a whole number >= 1"),
        ({"window_size": 10, "batch_size": 20}, r"disagree \(10 and 20\)"),
    ],
)
async def test_bad_settings_fail_the_load(saved: Path, extra: dict[str, Any], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        await load(saved / "ks", uri="detector", **extra)


async def test_instances_must_match_the_reference_shape(saved: Path) -> None:
    runtime = await load(saved / "ks", uri="detector")
    with pytest.raises(
        BadRequest, match=r"shape \[5, 4\]; the detector takes instances of shape \[3\]"
    ):
        await infer(runtime, np.zeros((5, 4), dtype=np.float32))
    with pytest.raises(BadRequest, match="is BYTES; this detector takes numbers"):
        await infer(runtime, np.array([b"a", b"b"], dtype=object))


async def test_several_one_column_inputs_are_the_features(saved: Path) -> None:
    from kernel_alibi_detect import AlibiDetectRuntime
    from protocol.messages import InferenceRequest
    from protocol.tensors import input_from_numpy

    runtime = await load(saved / "ks", uri="detector")
    assert isinstance(runtime, AlibiDetectRuntime)
    x = shifted()
    columns = InferenceRequest(inputs=[input_from_numpy(f"f{i}", x[:, i]) for i in range(3)])
    response = await runtime.predict(columns)
    together = await infer(runtime, x)
    for out in response.outputs:
        np.testing.assert_array_equal(out.data, together[0][out.name])


async def test_load_errors_name_the_path(saved: Path, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"empty'? is not a detector saved by alibi_detect"):
        await load(tmp_path, uri="empty")
    with pytest.raises(FileNotFoundError, match="nowhere"):
        await load(tmp_path, uri="nowhere")
    # the model folder itself is the default: here it holds no detector
    with pytest.raises(ValueError, match="is not a detector saved by"):
        await load(tmp_path)
    # a config.toml alibi-detect cannot read
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.toml").write_text('name = "NoSuchDetector"\n')
    with pytest.raises(ValueError, match=r"alibi-detect cannot load the detector in .*broken"):
        await load(tmp_path, uri="broken")


async def test_config_toml_uri_and_model_folder_default(saved: Path, tmp_path: Path) -> None:
    runtime = await load(saved / "ks", uri="detector/config.toml")
    assert (await infer(runtime, shifted()))[0]["is_drift"].tolist() == [1]
    runtime = await load(saved / "ks" / "detector")  # detector saved into the model folder
    assert (await infer(runtime, same()))[0]["is_drift"].tolist() == [0]


async def test_legacy_detector_without_tensorflow_says_how_to_install_it(tmp_path: Path) -> None:
    import importlib.util

    if importlib.util.find_spec("tensorflow") is not None:
        pytest.skip("TensorFlow is installed here (the TensorFlow tests cover legacy detectors)")
    # What save_detector writes for an outlier detector: meta.dill and its state.
    folder = tmp_path / "iforest"
    folder.mkdir()
    (folder / "meta.dill").write_bytes(b"")
    with pytest.raises(ValueError, match="needs TensorFlow") as caught:
        await load(tmp_path, uri="iforest")
    message = str(caught.value)
    assert "iforest" in message
    assert "needs TensorFlow" in message
    assert "pip install 'kernel[alibi-detect]' 'kernel-alibi-detect[tensorflow]'" in message


async def test_unloaded_runtime_refuses_requests(saved: Path) -> None:
    runtime = await load(saved / "ks", uri="detector")
    await runtime.unload()
    with pytest.raises(RuntimeError, match="not loaded"):
        await infer(runtime, shifted())
