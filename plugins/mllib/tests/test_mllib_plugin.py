"""The plugin's registration, its settings and its refusals, without starting Spark where
none is needed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kernel.errors import SettingsError
from kernel.plugins import load_plugins
from kernel.registry import RuntimeRegistry
from kernel_mllib import MLlibRuntime
from kernel_mllib._session import DEFAULT_MASTER, SessionConfig
from kernel_mllib._stored import LEGACY_FORMATS, load_stored, python_class_path, read_metadata


def registry() -> RuntimeRegistry:
    plugins = load_plugins(environ={"KERNEL_PLUGINS": "mllib"})
    runtimes = RuntimeRegistry()
    plugins.register_runtimes(runtimes)
    return runtimes


@pytest.mark.parametrize(
    "implementation", ["mllib", "kernel_mllib.MLlibRuntime", "mlserver_mllib.MLlibModel"]
)
def test_every_alias_resolves(implementation: str, tmp_path: Path) -> None:
    assert registry().resolve(implementation, tmp_path) is MLlibRuntime


def test_session_config_from_extra() -> None:
    config = SessionConfig.from_extra(
        {"spark": {"master": "local[2]", "conf": {"spark.driver.memory": "2g", "x.flag": True}}},
        "m",
    )
    assert config.master == "local[2]"
    assert dict(config.conf) == {"spark.driver.memory": "2g", "x.flag": "true"}
    assert SessionConfig.from_extra({}, "m").master == DEFAULT_MASTER


@pytest.mark.parametrize(
    ("spark", "message"),
    [
        ("local", "must be an object"),
        ({"mastr": "local"}, "unknown key\\(s\\) 'mastr'"),
        ({"master": ""}, "master must be a URL"),
        ({"conf": ["a"]}, "conf must be a map"),
    ],
)
def test_bad_spark_settings(spark: Any, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        SessionConfig.from_extra({"spark": spark}, "m")


def test_metadata_names_the_class(tmp_path: Path) -> None:
    (tmp_path / "metadata").mkdir()
    line = {"class": "org.apache.spark.ml.classification.LogisticRegressionModel", "uid": "u"}
    (tmp_path / "metadata" / "part-00000-abc.txt").write_text(json.dumps(line) + "\n")
    assert read_metadata(tmp_path)["uid"] == "u"
    assert python_class_path(line["class"]) == "pyspark.ml.classification.LogisticRegressionModel"
    assert python_class_path("org.apache.spark.ml.PipelineModel") == "pyspark.ml.PipelineModel"


def test_not_a_spark_model(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="is not a saved Spark model"):
        load_stored(tmp_path, None, None, "m")


def test_classes_outside_pyspark_are_never_imported(tmp_path: Path) -> None:
    (tmp_path / "metadata").mkdir()
    (tmp_path / "metadata" / "part-00000").write_text(json.dumps({"class": "os.system"}))
    with pytest.raises(ValueError, match="loads Spark's own model classes only"):
        load_stored(tmp_path, None, None, "m")


def test_unknown_legacy_format(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"names no pyspark\.mllib model; use one of"):
        load_stored(tmp_path, "Perceptron", None, "m")
    assert "DecisionTree" in LEGACY_FORMATS
