"""``LightGBMRuntime``: serves a LightGBM ``Booster`` text model or a pickled scikit-learn
wrapper model."""

from __future__ import annotations

from typing import ClassVar

from kernel import (
    Runtime,
    default_output,
    feature_matrix,
    int_setting,
    requested_outputs,
)
from kernel_lightgbm._features import float_input
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
        threads = int_setting(
            self.settings,
            "num_threads",
            DEFAULT_THREADS,
            note="0: LightGBM's default of every core",
        )
        model = load_model(self.settings.resolve_uri(*MODEL_FILES, search_folder=True), self.name)
        outputs = available_outputs(model)
        default = default_output(
            self.settings, outputs, what=f"this {model.objective} {model.kind}"
        )
        self._model = model
        self._outputs = outputs
        self._default = default
        self._threads = threads

    async def unload(self) -> None:
        self._model = None

    async def predict(self, request: InferenceRequest) -> InferenceResponse:
        model = self._model
        if model is None:
            raise RuntimeError(f"model {self.name!r} is not loaded")
        wanted = requested_outputs(request, self._outputs, self._default, model=self.name)
        # The width is checked here: LightGBM would also refuse, but after printing a fatal
        # error. column_stack of float32 and float64 columns gives one float64 matrix.
        features = feature_matrix(
            request.inputs,
            model=self.name,
            feature_names=model.feature_names,
            n_features=model.n_features,
            prepare=float_input,
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
