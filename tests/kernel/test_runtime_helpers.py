"""``kernel.runtime_helpers``: outputs a request asks for, the default output, integer options,
the feature matrix from a request's inputs, and ``ModelSettings.resolve_uri`` searching a folder
``uri``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import kernel
from kernel import BadRequest, ModelParameters, ModelSettings
from kernel.errors import SettingsError
from kernel.runtime_helpers import (
    default_output,
    feature_column,
    feature_matrix,
    int_setting,
    label_datatype,
    requested_outputs,
    tensor_array,
)
from protocol.messages import InferenceRequest, RequestInput, RequestOutput
from protocol.tensors import input_from_numpy

AVAILABLE = ("predict", "predict_proba", "predict_raw")


def settings(tmp_path: Path, uri: str | None = None, **extra: Any) -> ModelSettings:
    return ModelSettings(
        name="m",
        implementation="x",
        path=str(tmp_path),
        parameters=ModelParameters(uri=uri, extra=extra),
    )


def col(name: str, values: Any) -> RequestInput:
    return input_from_numpy(name, np.asarray(values))


def request(*outputs: str) -> InferenceRequest:
    return InferenceRequest(
        inputs=[col("x", [1.0])],
        outputs=[RequestOutput(name=name) for name in outputs] if outputs else [],
    )


def test_public_from_kernel() -> None:
    assert kernel.feature_matrix is feature_matrix
    assert kernel.requested_outputs is requested_outputs
    assert kernel.int_setting is int_setting


# -- requested_outputs ------------------------------------------------------------------------


def test_requested_outputs_default_when_none_named() -> None:
    assert requested_outputs(request(), AVAILABLE, "predict_raw", model="m") == ["predict_raw"]
    no_outputs = InferenceRequest(inputs=[col("x", [1.0])])
    assert requested_outputs(no_outputs, AVAILABLE, "predict", model="m") == ["predict"]


def test_requested_outputs_keep_request_order_and_repeats() -> None:
    wanted = requested_outputs(
        request("predict_raw", "predict", "predict_raw"), AVAILABLE, "predict", model="m"
    )
    assert wanted == ["predict_raw", "predict", "predict_raw"]


def test_unknown_outputs_are_named_with_what_the_model_can_produce() -> None:
    with pytest.raises(BadRequest) as caught:
        requested_outputs(request("predict", "leaf", "shap"), AVAILABLE, "predict", model="m")
    assert str(caught.value) == (
        "model 'm' cannot produce output 'leaf', 'shap';"
        " it can produce: predict, predict_proba, predict_raw"
    )


def test_a_default_the_model_lacks_is_refused_too() -> None:
    with pytest.raises(BadRequest) as caught:
        requested_outputs(request(), AVAILABLE, "transform", model="m")
    assert str(caught.value) == (
        "model 'm' cannot produce output 'transform';"
        " it can produce: predict, predict_proba, predict_raw"
    )


def test_requested_outputs_accept_any_collection_of_names() -> None:
    as_dict = dict.fromkeys(AVAILABLE)
    assert requested_outputs(request("predict_raw"), as_dict, "predict", model="m") == [
        "predict_raw"
    ]
    with pytest.raises(BadRequest, match="it can produce: predict, predict_proba, predict_raw"):
        requested_outputs(request("leaf"), as_dict, "predict", model="m")


# -- default_output ---------------------------------------------------------------------------


def test_default_output_is_predict_fn_else_predict_else_first(tmp_path: Path) -> None:
    assert default_output(settings(tmp_path), AVAILABLE, what="it") == "predict"
    chosen = settings(tmp_path, predict_fn="predict_proba")
    assert default_output(chosen, AVAILABLE, what="it") == "predict_proba"
    assert default_output(settings(tmp_path), ("transform",), what="it") == "transform"


def test_default_output_the_model_lacks(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as caught:
        default_output(settings(tmp_path, predict_fn="transform"), AVAILABLE, what="this ranker")
    assert str(caught.value) == (
        "model 'm': parameters.extra.predict_fn is 'transform', but this ranker can only"
        " produce: predict, predict_proba, predict_raw"
    )


# -- label_datatype ---------------------------------------------------------------------------


def test_label_datatype() -> None:
    assert label_datatype(np.array([0, 1, 2])) == "INT64"
    assert label_datatype(np.array([0.5, 1.5], dtype=np.float32)) == "FP32"
    assert label_datatype(np.array(["a", "b"])) == "BYTES"
    assert label_datatype(np.array([b"a"], dtype=object)) == "BYTES"
    assert label_datatype(np.array([1 + 2j])) == "BYTES"  # no V2 datatype: sent as text


# -- int_setting ------------------------------------------------------------------------------


def test_int_setting_reads_or_defaults(tmp_path: Path) -> None:
    assert int_setting(settings(tmp_path), "threads", 1) == 1
    assert int_setting(settings(tmp_path, threads=0), "threads", 1) == 0
    assert int_setting(settings(tmp_path, threads=-1), "threads", 1, minimum=1, also=(-1,)) == -1


@pytest.mark.parametrize("value", [-1, True, "2", 2.0, None])
def test_int_setting_rejects(tmp_path: Path, value: Any) -> None:
    with pytest.raises(SettingsError) as caught:
        int_setting(settings(tmp_path, threads=value), "threads", 1, note="0: all cores")
    assert str(caught.value) == (
        "model 'm': parameters.extra.threads must be a whole number >= 0 (0: all cores),"
        f" not {value!r}"
    )


def test_int_setting_minimum_and_also(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"threads must be a whole number >= 1, not 0$"):
        int_setting(settings(tmp_path, threads=0), "threads", 1, minimum=1, also=(-1,))
    with pytest.raises(SettingsError, match="not -2"):
        int_setting(settings(tmp_path, threads=-2), "threads", 1, minimum=1, also=(-1,))


# -- tensor_array / feature_column ------------------------------------------------------------


def test_tensor_array_reshapes_flat_data_to_the_declared_shape() -> None:
    tensor = RequestInput(name="x", shape=[2, 3], datatype="FP32", data=np.arange(6.0))
    assert tensor_array(tensor).shape == (2, 3)


def test_tensor_array_element_count() -> None:
    tensor = RequestInput(name="x", shape=[4, 4], datatype="FP32", data=np.arange(4.0))
    with pytest.raises(BadRequest) as caught:
        tensor_array(tensor)
    assert str(caught.value) == "input 'x': shape [4, 4] needs 16 elements, the data has 4"


def test_tensor_array_applies_prepare_to_the_shaped_array() -> None:
    seen: list[tuple[str, tuple[int, ...]]] = []

    def prepare(tensor: RequestInput, array: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        seen.append((tensor.name, array.shape))
        return array * 2

    tensor = RequestInput(name="x", shape=[1, 2], datatype="FP64", data=np.array([1.0, 2.0]))
    assert tensor_array(tensor, prepare).tolist() == [[2.0, 4.0]]
    assert seen == [("x", (1, 2))]


def test_feature_column_shapes() -> None:
    assert feature_column(col("a", [1, 2])).tolist() == [1, 2]
    assert feature_column(col("a", [[1], [2]])).tolist() == [1, 2]
    with pytest.raises(BadRequest, match=r"input 'a' has shape \[2, 2\]: with several inputs"):
        feature_column(col("a", [[1, 2], [3, 4]]))


# -- feature_matrix ---------------------------------------------------------------------------


def test_one_input_is_the_matrix_or_one_column() -> None:
    matrix = np.arange(6.0).reshape(3, 2)
    np.testing.assert_array_equal(feature_matrix([col("x", matrix)], model="m"), matrix)
    assert feature_matrix([col("x", [1.0, 2.0])], model="m").shape == (2, 1)
    with pytest.raises(BadRequest) as caught:
        feature_matrix([col("x", np.zeros((1, 2, 3)))], model="m")
    assert str(caught.value) == (
        "input 'x' has shape [1, 2, 3]: model 'm' takes a [rows, features] matrix"
        " (or one [rows] column per input)"
    )


def test_no_inputs() -> None:
    with pytest.raises(BadRequest, match=r"^model 'm': the request has no inputs$"):
        feature_matrix([], model="m")


def test_several_inputs_stack_in_request_order() -> None:
    inputs = [col("b", [1, 2]), col("a", [[3], [4]])]
    assert feature_matrix(inputs, model="m").tolist() == [[1, 3], [2, 4]]


def test_row_counts_must_agree() -> None:
    with pytest.raises(BadRequest) as caught:
        feature_matrix([col("a", [1, 2]), col("b", [1, 2, 3])], model="m")
    assert str(caught.value) == "model 'm': inputs have different row counts ('a': 2, 'b': 3)"


def test_width_is_checked_when_given() -> None:
    inputs = [col("x", np.zeros((2, 3)))]
    assert feature_matrix(inputs, model="m", n_features=3).shape == (2, 3)
    with pytest.raises(BadRequest) as caught:
        feature_matrix(inputs, model="m", n_features=4)
    assert str(caught.value) == "model 'm' expects 4 features per row, the request has 3"


def test_inputs_named_exactly_after_the_features_are_placed_by_name() -> None:
    inputs = [col("c", [3]), col("a", [1]), col("b", [2])]
    names = ("a", "b", "c")
    assert feature_matrix(inputs, model="m", feature_names=names).tolist() == [[1, 2, 3]]
    strict = feature_matrix(inputs, model="m", feature_names=names, strict_names=True)
    assert strict.tolist() == [[1, 2, 3]]


def test_other_names_keep_request_order() -> None:
    inputs = [col("c", [3]), col("z", [1])]
    for strict in (False, True):
        matrix = feature_matrix(inputs, model="m", feature_names=("a", "c"), strict_names=strict)
        assert matrix.tolist() == [[3, 1]]


def test_partial_or_repeated_feature_names() -> None:
    names = ("a", "b", "c")
    partial = [col("c", [3]), col("a", [1])]
    repeated = [col("a", [1]), col("a", [1]), col("b", [2])]
    # Lenient: not exactly the features, so request order.
    assert feature_matrix(partial, model="m", feature_names=names).tolist() == [[3, 1]]
    assert feature_matrix(repeated, model="m", feature_names=names).tolist() == [[1, 1, 2]]
    with pytest.raises(BadRequest) as caught:
        feature_matrix(partial, model="m", feature_names=names, strict_names=True)
    assert str(caught.value) == (
        "model 'm': inputs are named after its features, but 'b' is missing"
    )
    with pytest.raises(BadRequest, match=r"^model 'm': inputs 'a' repeat$"):
        feature_matrix(repeated, model="m", feature_names=names, strict_names=True)


def test_prepare_sees_every_input() -> None:
    def only_numbers(tensor: RequestInput, array: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        if array.dtype.kind not in "biuf":
            raise BadRequest(f"input {tensor.name!r} is {tensor.datatype}")
        return array.astype(np.float32)

    good = [col("a", [1, 2]), col("b", [3, 4])]
    matrix = feature_matrix(good, model="m", prepare=only_numbers)
    assert matrix.dtype == np.float32
    with pytest.raises(BadRequest, match=r"^input 'b' is BYTES$"):
        feature_matrix([col("a", [1]), col("b", [b"x"])], model="m", prepare=only_numbers)


# -- ModelSettings.resolve_uri(search_folder=True) --------------------------------------------


def test_folder_uri_is_searched_for_the_names(tmp_path: Path) -> None:
    (tmp_path / "saved").mkdir()
    (tmp_path / "saved" / "model.b").write_bytes(b"b")
    (tmp_path / "saved" / "model.c").write_bytes(b"c")
    found = settings(tmp_path, uri="saved").resolve_uri("model.a", "model.b", search_folder=True)
    assert found == tmp_path / "saved" / "model.b"


def test_folder_uri_without_the_names(tmp_path: Path) -> None:
    (tmp_path / "saved").mkdir()
    (tmp_path / "saved" / "model.a").mkdir()  # a folder is not a model file
    with pytest.raises(FileNotFoundError) as caught:
        settings(tmp_path, uri="saved").resolve_uri("model.a", "model.b", search_folder=True)
    assert str(caught.value) == (
        f"model 'm': no model file in {str(tmp_path / 'saved')!r} (looked for model.a, model.b)"
    )


def test_folder_uri_as_is_without_search(tmp_path: Path) -> None:
    (tmp_path / "saved").mkdir()
    assert settings(tmp_path, uri="saved").resolve_uri("model.a") == tmp_path / "saved"


def test_file_uri_and_default_names_are_unchanged_by_search(tmp_path: Path) -> None:
    (tmp_path / "x.bin").write_bytes(b"")
    (tmp_path / "model.b").write_bytes(b"")
    file_uri = settings(tmp_path, uri="x.bin")
    assert file_uri.resolve_uri("model.a", search_folder=True) == tmp_path / "x.bin"
    default = settings(tmp_path).resolve_uri("model.a", "model.b", search_folder=True)
    assert default == tmp_path / "model.b"
    with pytest.raises(FileNotFoundError, match=r"looked for model\.z; set parameters\.uri"):
        settings(tmp_path).resolve_uri("model.z", search_folder=True)
