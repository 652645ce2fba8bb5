"""Reading a saved Spark model: which class it is, and loading it with that class.

``pyspark.ml`` models and ``PipelineModel``s written with ``.save(path)`` record their class in
``metadata/part-*`` (one JSON line); the JVM class ``org.apache.spark.ml.X.Y`` is the Python
class ``pyspark.ml.X.Y``. Legacy ``pyspark.mllib`` models (``model.save(sc, path)``) are named
by ``parameters.format`` as MLServer's repositories do (``"LogisticRegression"``, ...), or read
from their own metadata when ``format`` is absent. Only classes inside ``pyspark.ml`` and
``pyspark.mllib`` are ever imported: the metadata is data, not a list of modules to trust.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

__all__ = ["LEGACY_FORMATS", "StoredModel", "load_stored", "read_metadata"]

#: MLServer's ``parameters.format`` names for ``pyspark.mllib`` models -> their classes.
LEGACY_FORMATS: Final[dict[str, str]] = {
    "LogisticRegression": "pyspark.mllib.classification.LogisticRegressionModel",
    "NaiveBayes": "pyspark.mllib.classification.NaiveBayesModel",
    "SVM": "pyspark.mllib.classification.SVMModel",
    "KMeans": "pyspark.mllib.clustering.KMeansModel",
    "IsotonicRegression": "pyspark.mllib.regression.IsotonicRegressionModel",
    "LinearRegression": "pyspark.mllib.regression.LinearRegressionModel",
    "Lasso": "pyspark.mllib.regression.LassoModel",
    "RidgeRegression": "pyspark.mllib.regression.RidgeRegressionModel",
    "DecisionTree": "pyspark.mllib.tree.DecisionTreeModel",
    "GradientBoostedTrees": "pyspark.mllib.tree.GradientBoostedTreesModel",
    "RandomForest": "pyspark.mllib.tree.RandomForestModel",
}

_JVM_PREFIX: Final = "org.apache.spark."


@dataclass(frozen=True, slots=True)
class StoredModel:
    """A loaded model, its Python class path and whether it is a legacy ``mllib`` one."""

    model: Any
    class_path: str
    legacy: bool


def read_metadata(path: Path) -> dict[str, Any]:
    """The JSON Spark wrote in ``path/metadata/part-*``; ``ValueError`` when there is none."""
    folder = path / "metadata"
    parts = sorted(folder.glob("part-*")) if folder.is_dir() else []
    parts = [p for p in parts if not p.name.endswith(".crc")]
    if not parts:
        raise ValueError(
            f"{str(path)!r} is not a saved Spark model: it has no metadata/part-* file"
            " (save models with model.save(path) or model.write().save(path))"
        )
    line = parts[0].read_text(encoding="utf-8").strip().splitlines()[0]
    try:
        metadata = json.loads(line)
    except ValueError as exc:
        raise ValueError(f"{str(parts[0])!r} is not Spark model metadata: {exc}") from None
    if not isinstance(metadata, dict) or not isinstance(metadata.get("class"), str):
        raise ValueError(f"{str(parts[0])!r} does not name the model's class")
    return metadata


def python_class_path(jvm_class: str) -> str:
    """``org.apache.spark.ml.X.Y`` -> ``pyspark.ml.X.Y`` (Python-only stages keep theirs)."""
    if jvm_class.startswith(_JVM_PREFIX):
        return "pyspark." + jvm_class[len(_JVM_PREFIX) :]
    return jvm_class


def _import_class(class_path: str, model: str) -> Any:
    module_name, _, name = class_path.rpartition(".")
    if not (
        module_name == "pyspark.ml" or module_name.startswith(("pyspark.ml.", "pyspark.mllib."))
    ):
        raise ValueError(
            f"model {model!r}: class {class_path!r} is not a pyspark.ml or pyspark.mllib"
            " model; the mllib runtime loads Spark's own model classes only"
        )
    try:
        cls = getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError):
        raise ValueError(
            f"model {model!r}: this pyspark has no class {class_path!r} (saved by another"
            " Spark version?)"
        ) from None
    if not hasattr(cls, "load"):
        raise ValueError(f"model {model!r}: {class_path!r} cannot be loaded (no load method)")
    return cls


def _legacy_class(fmt: str, model: str) -> str:
    if fmt in LEGACY_FORMATS:
        return LEGACY_FORMATS[fmt]
    if fmt.startswith("pyspark.mllib."):
        return fmt
    by_class = {path.rpartition(".")[2]: path for path in LEGACY_FORMATS.values()}
    if fmt in by_class:
        return by_class[fmt]
    raise ValueError(
        f"model {model!r}: parameters.format {fmt!r} names no pyspark.mllib model; use one"
        f" of {', '.join(LEGACY_FORMATS)}"
    )


def load_stored(path: Path, fmt: str | None, session: Any, model: str) -> StoredModel:
    """Load the model saved at ``path`` (``fmt`` is ``parameters.format``, for legacy models)."""
    if fmt:
        class_path = _legacy_class(fmt, model)
    else:
        class_path = python_class_path(str(read_metadata(path)["class"]))
    cls = _import_class(class_path, model)
    legacy = class_path.startswith("pyspark.mllib.")
    # Legacy models load through the SparkContext; pyspark.ml ones find the session.
    loaded = cls.load(session.sparkContext, str(path)) if legacy else cls.load(str(path))
    return StoredModel(loaded, class_path, legacy)
