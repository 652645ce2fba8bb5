"""``SKLearnRuntime``: serves a scikit-learn estimator or pipeline saved with joblib or pickle."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from kernel import (
    BadRequest,
    Runtime,
    default_output,
    feature_matrix,
    requested_outputs,
)
from kernel_sklearn._features import decode_text
from kernel_sklearn._methods import (
    METHODS,
    as_wire_array,
    available_methods,
    method_metadata,
)
from protocol.messages import UNSET, InferenceRequest, InferenceResponse, MetadataTensor
from protocol.tensors import output_from_numpy

__all__ = ["MODEL_FILES", "SKLearnRuntime"]

#: The files looked for in the model folder, in this order, when ``parameters.uri`` is not set.
MODEL_FILES: tuple[str, ...] = ("model.joblib", "model.pkl", "model.pickle")

#: The name metadata gives the single input when ``model-settings.json`` declares none.
INPUT_NAME = "input-0"


class SKLearnRuntime(Runtime):
    """A scikit-learn model: any estimator or ``Pipeline`` with ``predict`` or ``transform``.

    Outputs are named after the methods that compute them (``predict``, ``predict_proba``,
    ``predict_log_proba``, ``decision_function``, ``transform``); a request picks them with
    ``outputs``, and gets ``parameters.extra["predict_fn"]`` (default ``predict``) otherwise.
    """

    framework: ClassVar[str] = "sklearn"
    framework_modules: ClassVar[tuple[str, ...]] = ("sklearn", "joblib")
    # Unpickling imports the estimator's modules (a pipeline may name any package).
    load_imports: ClassVar[bool] = True

    _estimator: Any = None
    _methods: tuple[str, ...] = ()
    #: The estimator's bound method per output name, looked up once at load (sklearn's
    #: ``available_if`` checks, a ``Pipeline``'s delegation, run then and not per request);
    #: ``None`` when no model is loaded.
    _calls: dict[str, Callable[[Any], Any]] | None = None
    _default: str = "predict"
    _n_features: int | None = None

    async def load(self) -> None:
        import joblib

        path = self.settings.resolve_uri(*MODEL_FILES, search_folder=True)
        estimator = joblib.load(path)
        methods = available_methods(estimator)
        if not methods:
            raise TypeError(
                f"model {self.name!r}: {path} holds a {type(estimator).__qualname__}, which has"
                f" none of {', '.join(METHODS)}; is it a scikit-learn estimator?"
            )
        default = default_output(self.settings, methods, what=f"a {type(estimator).__qualname__}")
        n_features = getattr(estimator, "n_features_in_", None)
        self._estimator = estimator
        self._methods = methods
        self._calls = {name: getattr(estimator, name) for name in methods}
        self._default = default
        self._n_features = int(n_features) if isinstance(n_features, int | np.integer) else None

    async def unload(self) -> None:
        self._estimator = None
        self._calls = None

    async def predict(self, request: InferenceRequest) -> InferenceResponse:
        calls = self._calls
        if calls is None:
            raise RuntimeError(f"model {self.name!r} is not loaded")
        settings = self.settings
        model = settings.name
        wanted = requested_outputs(request, calls, self._default, model=model)
        features = feature_matrix(
            request.inputs, model=model, n_features=self._n_features, prepare=decode_text
        )
        results: dict[str, np.ndarray[Any, Any]] = {}
        for name in wanted:
            if name in results:
                continue
            try:
                result = calls[name](features)
            except (ValueError, TypeError) as err:
                # scikit-learn validates inputs with ValueError/TypeError (NaN, text in a
                # numeric column, unseen categories): the request's fault, not the server's.
                raise BadRequest(f"model {model!r}: {name} rejected the input: {err}") from err
            # A plain numeric ndarray (nearly every call) is already what the codecs carry.
            if type(result) is not np.ndarray or result.dtype.kind in "USO":
                result = self._wire_result(name, result)
            results[name] = result
        version = settings.version
        return InferenceResponse(
            model_name=model,
            model_version=UNSET if version is None else version,
            id=request.id,
            # One ResponseOutput per requested name, even when a name repeats: codecs may
            # replace an output's data with its wire form.
            outputs=[output_from_numpy(name, results[name]) for name in wanted],
        )

    def _wire_result(self, method: str, result: Any) -> np.ndarray[Any, Any]:
        """What ``method`` returned, other than a numeric ndarray, as a wire array."""
        if isinstance(result, list):
            raise BadRequest(
                f"model {self.name!r}: {method} returns one array per target (a multi-output"
                " model); the sklearn runtime serves single-array outputs only"
            )
        return as_wire_array(result)

    def inputs(self) -> list[MetadataTensor]:
        if self.settings.inputs:
            return list(self.settings.inputs)
        width = -1 if self._n_features is None else self._n_features
        return [MetadataTensor(name=INPUT_NAME, datatype="FP64", shape=[-1, width])]

    def outputs(self) -> list[MetadataTensor]:
        if self.settings.outputs:
            return list(self.settings.outputs)
        if self._estimator is None:
            return []
        return [method_metadata(self._estimator, name) for name in self._methods]

    @property
    def default_output(self) -> str:
        """The output a request that names none gets."""
        return self._default
