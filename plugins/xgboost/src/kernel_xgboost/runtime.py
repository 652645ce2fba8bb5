"""``XGBoostRuntime``: serves an XGBoost booster or scikit-learn-wrapper model."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from kernel import Runtime, default_output, int_setting, requested_outputs
from kernel.errors import SettingsError
from kernel_xgboost._features import feature_matrix
from kernel_xgboost._files import load_model, model_file
from kernel_xgboost._kinds import ModelInfo, describe
from kernel_xgboost._predict import Predictor
from protocol.datatypes import datatype_for_dtype
from protocol.messages import UNSET, InferenceRequest, InferenceResponse, MetadataTensor
from protocol.tensors import output_from_numpy

__all__ = ["XGBoostRuntime"]

#: The name metadata gives the single input when ``model-settings.json`` declares none.
INPUT_NAME = "input-0"


def _missing(value: Any, default: float, name: str) -> float:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise SettingsError(f"model {name!r}: parameters.extra.missing must be a number")
    try:
        return float(value)  # "nan" as a string too: JSON has no NaN literal
    except ValueError:
        raise SettingsError(
            f"model {name!r}: parameters.extra.missing must be a number, not {value!r}"
        ) from None


class XGBoostRuntime(Runtime):
    """An XGBoost model: a native ``Booster`` (JSON, UBJSON) or a pickled ``XGBModel``.

    Outputs are ``predict`` (labels for classifiers, values otherwise), ``predict_proba``,
    ``predict_raw`` (margins), ``predict_contrib`` (SHAP values and bias) and ``predict_leaf``,
    as far as the model's objective allows; a request picks them with ``outputs`` and gets
    ``parameters.extra["predict_fn"]`` (default ``predict``) otherwise.
    """

    framework: ClassVar[str] = "xgboost"
    framework_modules: ClassVar[tuple[str, ...]] = ("xgboost",)

    _predictor: Predictor | None = None
    _info: ModelInfo | None = None
    _default: str = "predict"
    _metadata: tuple[MetadataTensor, ...] = ()

    async def load(self) -> None:
        path = model_file(self.settings)
        loaded = load_model(path, self.name)
        info = describe(loaded.booster)
        extra = self.settings.extra
        nthread = int_setting(self.settings, "nthread", 1, note="0: all cores")
        missing = _missing(extra.get("missing"), loaded.missing, self.name)
        default = default_output(self.settings, info.outputs, what=f"this {info.objective} model")
        # Threads per call: parallelism comes from concurrent requests; XGBoost's default (all
        # cores per call) makes simultaneous calls fight over the cores.
        loaded.booster.set_param({"nthread": nthread})
        predictor = Predictor(loaded.booster, info, missing, nthread)
        self._metadata = self._probe(predictor)
        self._predictor = predictor
        self._info = info
        self._default = default

    @staticmethod
    def _probe(predictor: Predictor) -> tuple[MetadataTensor, ...]:
        # Output widths (trees for predict_leaf, classes x features for predict_contrib, ...)
        # read off one all-missing row: exact for every booster type and objective.
        row = np.full((1, predictor.info.n_features), math.nan, dtype=np.float32)
        tensors = []
        memo: dict[str, np.ndarray[Any, Any]] = {}
        for name in predictor.info.outputs:
            result = predictor.run(name, row, memo)
            tensors.append(
                MetadataTensor(
                    name=name,
                    datatype=datatype_for_dtype(result.dtype).name,
                    shape=[-1, *result.shape[1:]],
                )
            )
        return tuple(tensors)

    async def unload(self) -> None:
        self._predictor = None

    async def predict(self, request: InferenceRequest) -> InferenceResponse:
        predictor = self._predictor
        if predictor is None:
            raise RuntimeError(f"model {self.name!r} is not loaded")
        info = predictor.info
        wanted = requested_outputs(request, info.outputs, self._default, model=self.name)
        features = feature_matrix(request.inputs, self.name, info.feature_names, info.n_features)
        results: dict[str, np.ndarray[Any, Any]] = {}
        memo: dict[str, np.ndarray[Any, Any]] = {}
        for name in wanted:
            if name not in results:
                results[name] = predictor.run(name, features, memo)
        return InferenceResponse(
            model_name=self.name,
            model_version=self.version if self.version is not None else UNSET,
            id=request.id,
            outputs=[output_from_numpy(name, results[name]) for name in wanted],
        )

    def inputs(self) -> list[MetadataTensor]:
        if self.settings.inputs:
            return list(self.settings.inputs)
        info = self._info
        if info is None:
            return []
        names = info.feature_names
        return [
            MetadataTensor(
                name=INPUT_NAME,
                datatype="FP32",
                shape=[-1, info.n_features],
                parameters={"feature_names": list(names)} if names else UNSET,
            )
        ]

    def outputs(self) -> list[MetadataTensor]:
        if self.settings.outputs:
            return list(self.settings.outputs)
        return list(self._metadata)

    @property
    def model_info(self) -> ModelInfo | None:
        """What the loaded model is (kind, objective, classes, features); ``None`` before load."""
        return self._info

    @property
    def default_output(self) -> str:
        """The output a request that names none gets."""
        return self._default
