"""``MLlibRuntime``: serves Spark MLlib models, ``pyspark.ml`` and legacy ``pyspark.mllib``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Final

import numpy as np

from kernel import BadRequest, Runtime
from kernel.errors import SettingsError
from kernel_mllib import _session
from kernel_mllib._describe import ModelInfo, describe
from kernel_mllib._frames import arrays_of, feature_rows, request_columns, to_frame, to_outputs
from kernel_mllib._local import legacy_predict, local_outputs, local_predict
from kernel_mllib._stored import StoredModel, load_stored
from protocol.messages import UNSET, InferenceRequest, InferenceResponse, MetadataTensor
from protocol.tensors import output_from_numpy

__all__ = ["LEGACY_INPUT", "MLlibRuntime"]

#: The input name metadata gives a legacy model's single feature tensor.
LEGACY_INPUT = "input-0"
#: The one output of a legacy ``pyspark.mllib`` model.
PREDICTION = "prediction"
#: Requests up to this many rows use the local path where the model has one.
DEFAULT_LOCAL_MAX_ROWS = 64


def _local_max_rows(value: Any, model: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise SettingsError(
            f"model {model!r}: parameters.extra.local_max_rows is {value!r}; it must be a"
            " non-negative integer (0 sends every request through a DataFrame)"
        )
    return value


class MLlibRuntime(Runtime):
    """A Spark model: any ``pyspark.ml`` ``Model`` or ``PipelineModel`` saved with
    ``.save(path)``, or a legacy ``pyspark.mllib`` model named by ``parameters.format``.

    Outputs are the model's columns: ``prediction``, ``probability`` and ``rawPrediction``
    (named as the model names them) and any other column the pipeline writes that a request
    names; a request naming none gets ``prediction``. All Spark models of a process share one
    SparkSession (see ``kernel_mllib._session``), started while the first of them loads.
    """

    framework: ClassVar[str] = "mllib"
    framework_modules: ClassVar[tuple[str, ...]] = ("pyspark", "pyspark.ml", "pandas", "pyarrow")

    _stored: StoredModel | None = None
    _info: ModelInfo | None = None
    _session: Any = None
    _local: dict[str, str]
    _local_max_rows: int = DEFAULT_LOCAL_MAX_ROWS
    _n_legacy_features: int | None = None

    async def load(self) -> None:
        config = _session.SessionConfig.from_extra(self.settings.extra, self.name)
        local_max = _local_max_rows(
            self.settings.extra.get("local_max_rows", DEFAULT_LOCAL_MAX_ROWS), self.name
        )
        # A saved Spark model is a folder: ``uri``, else ``model/``, else the model folder.
        path = self.settings.resolve_uri()
        if not self.settings.parameters.uri and (path / "model").is_dir():
            path = path / "model"
        session = _session.acquire(config, self.name)
        try:
            stored = load_stored(path, self.settings.parameters.format, session, self.name)
            info = None if stored.legacy else describe(stored.model)
        except BaseException:
            _session.release()
            raise
        self._session, self._stored, self._info = session, stored, info
        self._local = local_outputs(info) if info is not None else {}
        self._local_max_rows = local_max
        n = getattr(stored.model, "numFeatures", None) if stored.legacy else None
        self._n_legacy_features = n if isinstance(n, int) and n > 0 else None

    async def unload(self) -> None:
        if self._stored is not None:
            self._stored, self._info, self._session = None, None, None
            _session.release()

    def _loaded(self) -> StoredModel:
        if self._stored is None:
            raise RuntimeError(f"model {self.name!r} is not loaded")
        return self._stored

    async def predict(self, request: InferenceRequest) -> InferenceResponse:
        stored = self._loaded()
        wanted = (
            [output.name for output in request.outputs]
            if request.outputs is not UNSET and request.outputs
            else None
        )
        if self._info is None:
            results = self._predict_legacy(stored, request, wanted)
        else:
            results = self._predict_ml(self._info, request, wanted)
        return InferenceResponse(
            model_name=self.name,
            model_version=self.version if self.version is not None else UNSET,
            id=request.id,
            outputs=[output_from_numpy(name, array) for name, array in results.items()],
        )

    def _predict_legacy(
        self, stored: StoredModel, request: InferenceRequest, wanted: list[str] | None
    ) -> dict[str, np.ndarray[Any, Any]]:
        if wanted is not None and wanted != [PREDICTION]:
            raise BadRequest(
                f"model {self.name!r} (a pyspark.mllib model) produces only {PREDICTION!r}"
            )
        if len(request.inputs) != 1:
            raise BadRequest(
                f"model {self.name!r} takes one feature tensor [rows, features], got"
                f" {len(request.inputs)} inputs"
            )
        data = request.inputs[0].data
        assert isinstance(data, np.ndarray)
        rows = feature_rows(data, self._n_legacy_features, self.name, request.inputs[0].name)
        return {PREDICTION: legacy_predict(stored.model, self._session, rows)}

    def _predict_ml(
        self, info: ModelInfo, request: InferenceRequest, wanted: list[str] | None
    ) -> dict[str, np.ndarray[Any, Any]]:
        if wanted is None:
            if info.prediction is None:
                raise BadRequest(
                    f"model {self.name!r} has no prediction column; name the outputs wanted"
                    f" (it writes: {', '.join(info.produced)})"
                )
            wanted = [info.prediction]
        columns = request_columns(request.inputs, info, self.name)
        rows = next(iter(columns.values())).shape[0] if columns else 0
        if (
            self._local
            and rows <= self._local_max_rows
            and all(name in self._local for name in wanted)
        ):
            features = columns[info.raw_inputs[0]]
            return local_predict(info, self._local, features, wanted)
        frame = to_frame(self._session, columns, info.vector_inputs)
        try:
            transformed = self._loaded().model.transform(frame)
            return to_outputs(transformed, wanted, self.name)
        except BadRequest:
            raise
        except Exception as exc:
            analysis = _analysis_error(exc)
            if analysis is not None:
                # Spark refused the columns (a string where a number belongs, ...).
                raise BadRequest(
                    f"model {self.name!r}: Spark rejected the input: {analysis}"
                ) from None
            raise

    # --- kernel batch: score a Spark DataFrame inside Spark -------------------------------

    def spark_transform(self, frame: Any, features: Sequence[str], outputs: Sequence[str]) -> Any:
        """``frame`` with the model's outputs added as columns (vectors as arrays).

        Used by ``kernel batch``: a Spark model cannot be loaded inside a Spark task, so the
        job calls ``transform`` on the distributed DataFrame instead. ``features`` (may be
        empty) are scalar columns to assemble into the model's one vector column when the
        dataset has no such column.
        """
        from pyspark.ml.functions import array_to_vector
        from pyspark.sql import functions as F

        stored, info = self._loaded(), self._info
        if info is None:
            raise BadRequest(
                f"model {self.name!r} is a legacy pyspark.mllib model; kernel batch scores"
                " pyspark.ml models and the models of other runtimes"
            )
        wanted = list(outputs) or ([info.prediction] if info.prediction else [])
        original = list(frame.columns)
        types = {f.name: f.dataType.typeName() for f in frame.schema.fields}
        for name in info.raw_inputs:
            if name in info.vector_inputs and name not in types and features:
                frame = frame.withColumn(
                    name, array_to_vector(F.array(*[F.col(c).cast("double") for c in features]))
                )
            elif name in info.vector_inputs and types.get(name) == "array":
                frame = frame.withColumn(name, array_to_vector(F.col(name).cast("array<double>")))
        missing = [name for name in info.raw_inputs if name not in frame.columns]
        if missing:
            raise BadRequest(
                f"model {self.name!r}: the dataset has no column(s) {', '.join(missing)}"
                " (give --features to assemble the feature vector from columns)"
            )
        transformed = stored.model.transform(frame)
        unknown = [name for name in wanted if name not in transformed.columns]
        if unknown:
            raise BadRequest(
                f"model {self.name!r} cannot produce output {', '.join(map(repr, unknown))};"
                f" its columns are: {', '.join(transformed.columns)}"
            )
        consumed = set(info.raw_inputs) | set(features)
        kept = [c for c in original if c not in consumed and c not in wanted]
        return arrays_of(transformed, [*kept, *wanted])

    # --- metadata ------------------------------------------------------------------------------

    def inputs(self) -> list[MetadataTensor]:
        if self.settings.inputs:
            return list(self.settings.inputs)
        if self._stored is None:
            return []
        if self._info is None:
            width = -1 if self._n_legacy_features is None else self._n_legacy_features
            return [MetadataTensor(name=LEGACY_INPUT, datatype="FP64", shape=[-1, width])]
        return self._info.input_metadata()

    def outputs(self) -> list[MetadataTensor]:
        if self.settings.outputs:
            return list(self.settings.outputs)
        if self._stored is None:
            return []
        if self._info is None:
            return [MetadataTensor(name=PREDICTION, datatype="FP64", shape=[-1])]
        return self._info.output_metadata()

    @property
    def info(self) -> ModelInfo | None:
        """The columns of a loaded ``pyspark.ml`` model (``None`` for legacy models)."""
        return self._info


#: Markers of a Spark job that failed on the request's values (an unseen category, a value a
#: stage cannot take), as opposed to the server failing.
_DATA_ERRORS: Final = ("FAILED_EXECUTE_UDF", "IllegalArgumentException", "Unseen label")


def _analysis_error(exc: BaseException) -> str | None:
    """Why Spark refused the request's values (its fault), or ``None`` for anything else.

    Spark reports the first kind as Python exceptions (``AnalysisException``, ...) when it
    plans the query, and as a Java exception wrapped in ``Py4JJavaError`` (sometimes chained
    behind the Arrow reader's own error) when it runs it."""
    from pyspark.errors import AnalysisException, IllegalArgumentException, PySparkException

    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, AnalysisException | IllegalArgumentException | PySparkException):
            lines = str(current).strip().splitlines()
            return lines[0] if lines else type(current).__name__
        # By name: py4j ships no type information, and only its message is read.
        if type(current).__name__ == "Py4JJavaError":
            text = str(current)  # with the Java stack trace and its "Caused by:" lines
            if any(marker in text for marker in _DATA_ERRORS):
                _, found, reason = text.partition("failed due to: ")
                line = (reason if found else text).strip().splitlines()[0]
                return line.split(" SQLSTATE")[0].strip()
        current = current.__cause__ or current.__context__
    return None
