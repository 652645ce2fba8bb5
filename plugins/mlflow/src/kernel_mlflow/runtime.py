"""``MLflowRuntime``: serves an MLflow model through pyfunc, plus its native flavour's outputs."""

from __future__ import annotations

import logging
import weakref
from typing import Any, ClassVar

import numpy as np

from kernel import BadRequest, Runtime
from kernel_mlflow._invocations import INVOCATIONS, parse_body, predictions_json
from kernel_mlflow._native import Native, load_native
from kernel_mlflow._outputs import encode_prediction
from kernel_mlflow._signature import decode_input, input_metadata, output_metadata
from kernel_mlflow._source import ModelSource, locate, remove_download, requirement_mismatches
from protocol.datatypes import datatype_for_dtype
from protocol.messages import (
    UNSET,
    InferenceRequest,
    InferenceResponse,
    MetadataTensor,
    ResponseOutput,
)
from protocol.tensors import output_from_numpy

__all__ = ["MLflowRuntime", "loaded_runtimes"]

logger = logging.getLogger("kernel_mlflow")

#: MLflow error codes that mean "the caller sent something wrong" (schema, params).
_CLIENT_ERRORS = frozenset({"INVALID_PARAMETER_VALUE", "BAD_REQUEST"})
#: Datatype of native outputs when no input example lets the runtime see a real one.
_NATIVE_DATATYPE = {"xgboost": "FP32"}

_LOADED: weakref.WeakSet[MLflowRuntime] = weakref.WeakSet()


def loaded_runtimes() -> list[MLflowRuntime]:
    """Every MLflow model loaded in this process (the scoring routes pick from them)."""
    return [runtime for runtime in list(_LOADED) if runtime.pyfunc is not None]


def _client_error(exc: Exception) -> BadRequest | None:
    from mlflow.exceptions import MlflowException

    if isinstance(exc, MlflowException) and exc.error_code in _CLIENT_ERRORS:
        return BadRequest(exc.message)
    return None


class MLflowRuntime(Runtime):
    """A model MLflow saved or registered; see docs/runtimes/mlflow.md.

    ``parameters.uri``: a local folder holding ``MLmodel`` (relative to the model folder), or
    ``runs:/...``, ``models:/name/version``, ``models:/name@alias`` and any artifact URI MLflow
    downloads. ``parameters.extra``: ``tracking_uri`` (else ``MLFLOW_TRACKING_URI``),
    ``registry_uri`` (else the tracking URI), ``default_invocations`` (this model answers the
    bare ``/invocations``), ``native_outputs`` (``false``: do not load the native flavour).
    """

    framework: ClassVar[str] = "mlflow"
    framework_modules: ClassVar[tuple[str, ...]] = ("mlflow.pyfunc",)
    # A flavour's loader imports its framework (and that framework others: XGBoost imports
    # scikit-learn), first seen when a model of that flavour loads.
    load_imports: ClassVar[bool] = True

    pyfunc: Any = None
    native: Native | None = None
    input_schema: Any = None
    params_schema: Any = None
    _source: ModelSource | None = None
    _outputs: tuple[MetadataTensor, ...] = ()

    async def load(self) -> None:
        source = locate(self.settings)
        try:
            problems = requirement_mismatches(source.path)
            if problems:
                logger.warning(
                    "model %r: its recorded requirements differ from the installed packages: %s",
                    self.name,
                    "; ".join(problems),
                )
            import mlflow.pyfunc

            model = mlflow.pyfunc.load_model(str(source.path))
            meta = model.metadata
            native = None
            if self.settings.extra.get("native_outputs", True) is not False:
                native = load_native(str(source.path), meta.flavors)
            self.input_schema = meta.get_input_schema()
            self.params_schema = meta.get_params_schema()
            self.native = native
            self._outputs = self._describe_outputs(model, meta, source)
        except BaseException:
            remove_download(source)
            raise
        self._source = source
        self.pyfunc = model
        _LOADED.add(self)

    def _describe_outputs(self, model: Any, meta: Any, source: ModelSource) -> tuple[Any, ...]:
        """Output metadata: read off a prediction on the saved input example when there is
        one (exact names, datatypes, widths), else from the output schema."""
        try:
            example = meta.load_input_example(str(source.path))
        except Exception:
            example = None
        if example is not None:
            try:
                return tuple(self._probe(model, example))
            except Exception as exc:
                logger.info("model %r: input example did not predict (%s)", self.name, exc)
        tensors = output_metadata(meta.get_output_schema())
        if self.native is not None:
            datatype = _NATIVE_DATATYPE.get(self.native.flavour, "FP64")
            tensors += [MetadataTensor(n, datatype, [-1, -1]) for n in self.native.calls]
        return tuple(tensors)

    def _probe(self, model: Any, example: Any) -> list[MetadataTensor]:
        response = encode_prediction(model.predict(example))
        tensors = [MetadataTensor(o.name, o.datatype, [-1, *o.shape[1:]]) for o in response.outputs]
        if self.native is not None:
            data = self._enforced(example)
            for name in self.native.calls:
                result = self.native.run(name, data)
                datatype = datatype_for_dtype(result.dtype).name
                tensors.append(MetadataTensor(name, datatype, [-1, *result.shape[1:]]))
        return tensors

    async def unload(self) -> None:
        _LOADED.discard(self)
        self.pyfunc = None
        self.native = None
        if self._source is not None:
            remove_download(self._source)
            self._source = None

    def request_params(self, parameters: Any) -> dict[str, Any] | None:
        """The request parameters the model's params schema names (``None`` without one);
        MLflow checks their types when the model predicts."""
        if self.params_schema is None or not parameters:
            return None
        names = {spec.name for spec in self.params_schema.params}
        return {key: value for key, value in parameters.items() if key in names} or None

    def predict_value(self, data: Any, params: dict[str, Any] | None) -> Any:
        """pyfunc's prediction for ``data``; MLflow's input and params errors as 400s."""
        model = self.pyfunc
        if model is None:
            raise RuntimeError(f"model {self.name!r} is not loaded")
        try:
            return model.predict(data, params=params)
        except Exception as exc:
            client = _client_error(exc)
            if client is not None:
                raise client from None
            raise

    def _enforced(self, data: Any) -> Any:
        if self.input_schema is None:
            return data
        from mlflow.models.utils import _enforce_schema

        try:
            return _enforce_schema(data, self.input_schema)
        except Exception as exc:
            raise BadRequest(
                f"model {self.name!r}: the input does not match the model signature: {exc}"
            ) from None

    def _invocations(self, request: InferenceRequest) -> list[ResponseOutput]:
        """An ``/invocations`` body parsed, predicted and answered as MLflow does."""
        metadata = self.pyfunc.metadata if self.pyfunc is not None else None
        data, params, unwrapped = parse_body(request, metadata, self.input_schema)
        body = predictions_json(self.predict_value(data, params), unwrapped)
        value = np.empty(1, dtype=object)
        value[0] = body
        return [ResponseOutput(INVOCATIONS, [1], "BYTES", data=value)]

    async def predict(self, request: InferenceRequest) -> InferenceResponse:
        if request.parameters and INVOCATIONS in request.parameters:
            return InferenceResponse(
                model_name=self.name,
                model_version=self.version if self.version is not None else UNSET,
                id=request.id,
                outputs=self._invocations(request),
            )
        wanted = [o.name for o in request.outputs] if request.outputs else []
        extras = self.native.calls if self.native is not None else {}
        data = decode_input(request, self.input_schema)
        outputs = []
        parameters: Any = UNSET
        if not wanted or any(name not in extras for name in wanted):
            response = encode_prediction(
                self.predict_value(data, self.request_params(request.parameters))
            )
            if not wanted:
                outputs, parameters = response.outputs, response.parameters
            else:
                by_name = {output.name: output for output in response.outputs}
                unknown = [n for n in wanted if n not in by_name and n not in extras]
                if unknown:
                    known = [*by_name, *extras]
                    raise BadRequest(
                        f"model {self.name!r} cannot produce output"
                        f" {', '.join(map(repr, unknown))}; it can produce: {', '.join(known)}"
                    )
                outputs = [by_name[n] for n in wanted if n in by_name]
        if wanted and self.native is not None and any(n in extras for n in wanted):
            enforced = self._enforced(data)
            native = {
                n: output_from_numpy(n, self.native.run(n, enforced)) for n in wanted if n in extras
            }
            by_name = {o.name: o for o in outputs}
            outputs = [by_name[n] if n in by_name else native[n] for n in wanted]
        return InferenceResponse(
            model_name=self.name,
            model_version=self.version if self.version is not None else UNSET,
            id=request.id,
            outputs=outputs,
            parameters=parameters,
        )

    def inputs(self) -> list[MetadataTensor]:
        if self.settings.inputs:
            return list(self.settings.inputs)
        return input_metadata(self.input_schema)

    def outputs(self) -> list[MetadataTensor]:
        if self.settings.outputs:
            return list(self.settings.outputs)
        return list(self._outputs)

    def answers_bare_invocations(self) -> bool:
        """Whether ``parameters.extra.default_invocations`` makes this model the bare
        ``/invocations`` target."""
        return self.settings.extra.get("default_invocations") is True
