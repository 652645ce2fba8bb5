"""``kernel.batch_scoring.Scorer``: what every ``kernel batch`` Spark task runs, without Spark.

The built-in ``echo`` runtime answers its inputs back, so what the scorer sent the model is
what comes back as output columns: columns as named inputs (in the declared datatype), text
as BYTES, several columns as one ``[rows, features]`` tensor, and the other columns kept."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from kernel.batch_scoring import Scorer
from kernel.errors import KernelError, SettingsError

pd = pytest.importorskip("pandas")


def model(folder: Path, inputs: list[dict[str, Any]], implementation: str = "echo") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    settings = {"name": folder.name, "implementation": implementation, "inputs": inputs}
    (folder / "model-settings.json").write_text(json.dumps(settings))
    return folder


def frame() -> Any:
    return pd.DataFrame(
        {
            "id": np.arange(4, dtype=np.int64),
            "a": np.linspace(0.0, 1.5, 4),
            "b": np.array([1, 2, 3, 4], dtype=np.int64),
            "word": ["x", "yy", "zzz", "é"],
        }
    )


def test_named_inputs_in_declared_types_and_other_columns_kept(tmp_path: Path) -> None:
    folder = model(
        tmp_path / "named",
        [
            {"name": "a", "datatype": "FP32", "shape": [-1]},
            {"name": "word", "datatype": "BYTES", "shape": [-1]},
        ],
    )
    scorer = Scorer(folder)
    try:
        scored = scorer.score(frame())
    finally:
        scorer.close()
    assert list(scored.columns) == ["id", "b", "a", "word"]
    assert scored["a"].dtype == np.float32  # cast to the declared FP32 before the request
    np.testing.assert_array_equal(scored["a"], frame()["a"].astype(np.float32))
    assert scored["word"].tolist() == ["x", "yy", "zzz", "é"]  # BYTES back to text
    np.testing.assert_array_equal(scored["id"], np.arange(4))


def test_feature_columns_as_one_tensor(tmp_path: Path) -> None:
    folder = model(tmp_path / "matrix", [{"name": "x", "datatype": "FP64", "shape": [-1, 2]}])
    scorer = Scorer(folder, features=["a", "b"], outputs=["x"])
    try:
        scored = scorer.score(frame())
        request = scorer.request(frame())
    finally:
        scorer.close()
    assert [(t.name, t.shape, t.datatype) for t in request.inputs] == [("x", [4, 2], "FP64")]
    assert list(scored.columns) == ["id", "word", "x"]
    np.testing.assert_array_equal(np.stack(scored["x"]), frame()[["a", "b"]].to_numpy(float))


def test_missing_features_are_named(tmp_path: Path) -> None:
    folder = model(tmp_path / "m", [{"name": "c", "datatype": "FP64", "shape": [-1]}])
    scorer = Scorer(folder)
    try:
        with pytest.raises(SettingsError, match=r"takes input\(s\) c.*--features"):
            scorer.score(frame())
        with pytest.raises(SettingsError, match=r"no feature column\(s\) nope"):
            Scorer(folder, features=["nope"]).score(frame())
    finally:
        scorer.close()


def test_one_model_folder_only(tmp_path: Path) -> None:
    model(tmp_path / "one", [])
    model(tmp_path / "two", [])
    with pytest.raises(SettingsError, match=r"holds several models \(one, two\)"):
        Scorer(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(SettingsError, match=r"holds no model-settings\.json"):
        Scorer(tmp_path / "empty")


def test_a_model_that_fails_to_load_is_an_error(tmp_path: Path) -> None:
    folder = model(tmp_path / "ghost", [], implementation="no-such-runtime")
    with pytest.raises(KernelError, match=r"failed to load: .*no-such-runtime"):
        Scorer(folder)
