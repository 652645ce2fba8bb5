"""``LightGBMRuntime``: serves a LightGBM ``Booster`` text model or a pickled scikit-learn
wrapper model."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from kernel import BadRequest, Runtime
from kernel.errors import SettingsError
from kernel_lightgbm._features import feature_matrix
from kernel_lightgbm._model import LoadedModel, load_model
from kernel_lightgbm._outputs import available_outputs, compute, output_metadata
from protocol.messages import UNSET, InferenceRequest, InferenceResponse, MetadataTensor
from protocol.tensors import output_from_numpy

__all__ = ["MODEL_FILES", "LightGBMRuntime"]

#: The files looked for in the model folder, in this order, when ``parameters.uri`` is not set.
MODEL_FILES: tuple[str, ...] = (
    "model.txt",
    "model.bst",
    "model.model",
    "model.joblib",
    "model.pkl",
    "model.pickle",
)

#: The name metadata gives the single input when ``model-settings.json`` declares none.
INPUT_NAME = "input-0"

#: Threads per predict call unless ``parameters.extra.num_threads`` says otherwise: one, so
#: that concurrency comes from parallel requests rather than from every request taking every
#: core (which, under load, makes threads fight over the same cores).
DEFAULT_THREADS = 1


class LightGBMRuntime(Runtime):
    """A LightGBM model: classifier (binary or multi-class), regressor or ranker, as its saved
    objective says.

    Outputs are ``predict`` (class labels for classifiers, values otherwise), ``predict_proba``
    (classifiers), ``predict_raw``, ``predict_contrib`` and ``predict_leaf``; a request picks them
    with ``outputs`` and gets ``parameters.extra["predict_fn"]`` (default ``predict``) otherwise.
    """

    framework: ClassVar[str] = "lightgbm"
    framework_modules: ClassVar[tuple[str, ...]] = ("lightgbm",)

    _model: LoadedModel | None = None
    _outputs: tuple[str, ...] = ()
    _default: str = "predict"
    _threads: int = DEFAULT_THREADS

    async def load(self) -> None:
        threads = self._read_threads()
        model = load_model(self._model_file(), self.name)
        outputs = available_outputs(model)
        default = self.settings.extra.get("predict_fn", "predict")
        if default not in outputs:
            raise SettingsError(
                f"model {self.name!r}: parameters.extra.predict_fn is {default!r}, but this"
                f" {model.objective} {model.kind} can only produce: {', '.join(outputs)}"
            )
        self._model = model
        self._outputs = outputs
        self._default = str(default)
        self._threads = threads

    def _read_threads(self) -> int:
        value = self.settings.extra.get("num_threads", DEFAULT_THREADS)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise SettingsError(
                f"model {self.name!r}: parameters.extra.num_threads must be a whole number >= 0"
                f" (0: LightGBM's default of every core), not {value!r}"
            )
        return value

    def _model_file(self) -> Path:
        path = self.settings.resolve_uri(*MODEL_FILES)
        if path.is_dir():
            # ``uri`` may name a folder; look for the usual file names inside it.
            for name in MODEL_FILES:
                if (path / name).is_file():
                    return path / name
            raise FileNotFoundError(
                f"model {self.name!r}: no model file in {str(path)!r}"
                f" (looked for {', '.join(MODEL_FILES)})"
            )
        return path

    async def unload(self) -> None:
        self._model = None

    async def predict(self, request: InferenceRequest) -> InferenceResponse:
        model = self._model
        if model is None:
            raise RuntimeError(f"model {self.name!r} is not loaded")
        wanted = (
            [output.name for output in request.outputs]
            if request.outputs is not UNSET and request.outputs
            else [self._default]
        )
        unknown = [name for name in wanted if name not in self._outputs]
        if unknown:
            raise BadRequest(
                f"model {self.name!r} cannot produce output {', '.join(map(repr, unknown))};"
                f" it can produce: {', '.join(self._outputs)}"
            )
        features = feature_matrix(request.inputs, self.name, model.feature_names)
        if features.shape[1] != model.n_features:
            # Checked here: LightGBM would also refuse, but after printing a fatal error.
            raise BadRequest(
                f"model {self.name!r} expects {model.n_features} features per row, the request"
                f" has {features.shape[1]}"
            )
        results = compute(model, wanted, features, self._threads)
        return InferenceResponse(
            model_name=self.name,
            model_version=self.version if self.version is not None else UNSET,
            id=request.id,
            outputs=[output_from_numpy(name, results[name]) for name in wanted],
        )

    def inputs(self) -> list[MetadataTensor]:
        if self.settings.inputs:
            return list(self.settings.inputs)
        model = self._model
        if model is None:
            return [MetadataTensor(name=INPUT_NAME, datatype="FP64", shape=[-1, -1])]
        tensor = MetadataTensor(name=INPUT_NAME, datatype="FP64", shape=[-1, model.n_features])
        if model.feature_names is not None:
            # A list in REST metadata; gRPC metadata has no per-tensor parameters.
            tensor.parameters = {"feature_names": list(model.feature_names)}
        return [tensor]

    def outputs(self) -> list[MetadataTensor]:
        if self.settings.outputs:
            return list(self.settings.outputs)
        model = self._model
        if model is None:
            return []
        return [output_metadata(model, name) for name in self._outputs]

    @property
    def default_output(self) -> str:
        """The output a request that names none gets."""
        return self._default

    @property
    def model(self) -> LoadedModel | None:
        """What was loaded (``None`` before ``load`` and after ``unload``)."""
        return self._model
