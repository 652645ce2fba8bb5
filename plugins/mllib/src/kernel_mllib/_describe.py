"""What a ``pyspark.ml`` model (or pipeline) reads and writes, from its parameters.

A pipeline's *raw inputs* are the columns its stages read that no earlier stage writes: the
columns a request must provide. A raw input read as a stage's ``featuresCol`` is a vector; the
others are scalars (a ``StringIndexer``'s input is text). The last stage with a
``predictionCol`` names ``prediction``, ``probability`` and ``rawPrediction``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from protocol.messages import MetadataTensor

__all__ = ["ModelInfo", "describe", "stages_of"]

_INPUT_PARAMS: Final = ("inputCol", "inputCols", "featuresCol")
_OUTPUT_PARAMS: Final = (
    "outputCol",
    "outputCols",
    "predictionCol",
    "probabilityCol",
    "rawPredictionCol",
    "varianceCol",
    "leafCol",
)
#: Stages whose input is text, for metadata (a request may send any type Spark accepts).
_TEXT_STAGES: Final = frozenset({"StringIndexerModel", "Tokenizer", "RegexTokenizer"})
#: Models whose prediction is a cluster index (IntegerType), not a double.
_CLUSTERING: Final = frozenset(
    {"KMeansModel", "BisectingKMeansModel", "GaussianMixtureModel", "LDAModel"}
)


def _param(stage: Any, name: str) -> Any:
    if not stage.hasParam(name):
        return None
    param = stage.getParam(name)
    return stage.getOrDefault(param) if stage.isDefined(param) else None


def _columns(stage: Any, names: tuple[str, ...]) -> list[str]:
    found: list[str] = []
    for name in names:
        value = _param(stage, name)
        if isinstance(value, str) and value:
            found.append(value)
        elif isinstance(value, list):
            found.extend(str(v) for v in value)
    return found


def stages_of(model: Any) -> list[Any]:
    """The model's stages in order, nested pipelines flattened."""
    inner = getattr(model, "stages", None)
    if not isinstance(inner, list):
        return [model]
    flat: list[Any] = []
    for stage in inner:
        flat.extend(stages_of(stage))
    return flat


@dataclass(slots=True)
class ModelInfo:
    """The columns a loaded ``pyspark.ml`` model reads and writes."""

    kind: str
    pipeline: bool
    raw_inputs: list[str]
    vector_inputs: set[str]
    text_inputs: set[str]
    produced: list[str]
    prediction: str | None
    probability: str | None
    raw_prediction: str | None
    n_features: int | None
    n_classes: int | None
    clustering: bool
    predictor: Any = field(default=None, repr=False)

    def input_metadata(self) -> list[MetadataTensor]:
        tensors: list[MetadataTensor] = []
        for name in self.raw_inputs:
            if name in self.vector_inputs:
                width = -1 if self.n_features is None else self.n_features
                tensors.append(MetadataTensor(name=name, datatype="FP64", shape=[-1, width]))
            elif name in self.text_inputs:
                tensors.append(MetadataTensor(name=name, datatype="BYTES", shape=[-1]))
            else:
                tensors.append(MetadataTensor(name=name, datatype="FP64", shape=[-1]))
        return tensors

    def output_metadata(self) -> list[MetadataTensor]:
        tensors: list[MetadataTensor] = []
        if self.prediction:
            datatype = "INT32" if self.clustering else "FP64"
            tensors.append(MetadataTensor(name=self.prediction, datatype=datatype, shape=[-1]))
        width = -1 if self.n_classes is None else self.n_classes
        for name in (self.probability, self.raw_prediction):
            if name:
                tensors.append(MetadataTensor(name=name, datatype="FP64", shape=[-1, width]))
        return tensors


def describe(model: Any) -> ModelInfo:
    """Read the columns of ``model`` (a ``pyspark.ml`` ``Model`` or ``PipelineModel``)."""
    stages = stages_of(model)
    produced: list[str] = []
    raw: list[str] = []
    vectors: set[str] = set()
    text: set[str] = set()
    predictor: Any = None
    for stage in stages:
        features = _param(stage, "featuresCol")
        for column in _columns(stage, _INPUT_PARAMS):
            if column in produced or column in raw:
                continue
            raw.append(column)
            if column == features:
                vectors.add(column)
            if type(stage).__name__ in _TEXT_STAGES:
                text.add(column)
        produced.extend(c for c in _columns(stage, _OUTPUT_PARAMS) if c not in produced)
        if _param(stage, "predictionCol"):
            predictor = stage
    n_features = getattr(predictor, "numFeatures", None) if predictor is not None else None
    n_classes = getattr(predictor, "numClasses", None) if predictor is not None else None
    return ModelInfo(
        kind=type(model).__name__,
        pipeline=len(stages) > 1 or stages[0] is not model,
        raw_inputs=raw,
        vector_inputs=vectors,
        text_inputs=text,
        produced=produced,
        prediction=_param(predictor, "predictionCol") if predictor is not None else None,
        probability=_param(predictor, "probabilityCol") if predictor is not None else None,
        raw_prediction=_param(predictor, "rawPredictionCol") if predictor is not None else None,
        n_features=n_features if isinstance(n_features, int) and n_features > 0 else None,
        n_classes=n_classes if isinstance(n_classes, int) and n_classes > 0 else None,
        clustering=type(predictor).__name__ in _CLUSTERING,
        predictor=predictor,
    )
