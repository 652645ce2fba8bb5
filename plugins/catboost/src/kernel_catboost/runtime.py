"""``CatBoostRuntime``: serves a CatBoost model saved as ``.cbm`` or ``.json``."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from kernel import BadRequest, Runtime, default_output, int_setting, requested_outputs
from kernel_catboost._features import model_rows
from kernel_catboost._model import CBM_MAGIC, ModelInfo, describe
from protocol.messages import UNSET, InferenceRequest, InferenceResponse, MetadataTensor
from protocol.tensors import output_from_numpy

__all__ = ["MODEL_FILES", "CatBoostRuntime"]

#: The files looked for in the model folder, in this order, when ``parameters.uri`` is not set.
MODEL_FILES: tuple[str, ...] = ("model.cbm", "model.json", "model.bin")

#: The name metadata gives the single input of a model without feature names of its own.
INPUT_NAME = "input-0"


def _model_format(path: Path) -> str:
    """``cbm`` or ``json``, from the file's first bytes (a file name's suffix can lie)."""
    with path.open("rb") as file:
        head = file.read(64)
    if head.startswith(CBM_MAGIC):
        return "cbm"
    if head.lstrip()[:1] == b"{":
        return "json"
    raise ValueError(f"{path} is neither a CatBoost binary (.cbm) nor a JSON model")


class CatBoostRuntime(Runtime):
    """A CatBoost model of any kind: classifier, multi-label classifier, regressor (also
    multi-target and survival) or ranker, with numeric, categorical and text features.

    Outputs: ``predict`` (labels for classifiers, values otherwise), ``predict_proba``
    (classifiers), ``predict_raw`` (the raw formula value) and ``predict_contrib`` (SHAP values,
    the expected value last). A request picks them with ``outputs``, and gets
    ``parameters.extra["predict_fn"]`` (default ``predict``) otherwise.
    """

    framework: ClassVar[str] = "catboost"
    framework_modules: ClassVar[tuple[str, ...]] = ("catboost",)

    _model: Any = None
    _info: ModelInfo | None = None
    _default: str = "predict"
    _threads: int = 1

    async def load(self) -> None:
        from catboost import CatBoost

        path = self.settings.resolve_uri(*MODEL_FILES, search_folder=True)
        threads = int_setting(
            self.settings, "thread_count", 1, minimum=1, also=(-1,), note="-1: every core"
        )
        model = CatBoost()
        model.load_model(str(path), format=_model_format(path))
        info = describe(model)
        default = default_output(
            self.settings, info.outputs, what=f"this {info.kind} ({info.loss})"
        )
        self._model, self._info, self._default, self._threads = model, info, default, threads

    async def unload(self) -> None:
        self._model = None
        self._info = None

    async def predict(self, request: InferenceRequest) -> InferenceResponse:
        model, info = self._model, self._info
        if model is None or info is None:
            raise RuntimeError(f"model {self.name!r} is not loaded")
        wanted = requested_outputs(request, info.outputs, self._default, model=self.name)
        rows = model_rows(request.inputs, info, self.name, self._threads)
        results: dict[str, np.ndarray[Any, Any]] = {}
        for name in wanted:
            if name not in results:
                results[name] = self._call(model, info, name, rows)
        return InferenceResponse(
            model_name=self.name,
            model_version=self.version if self.version is not None else UNSET,
            id=request.id,
            outputs=[output_from_numpy(name, results[name]) for name in wanted],
        )

    def _call(self, model: Any, info: ModelInfo, output: str, rows: Any) -> np.ndarray[Any, Any]:
        from catboost import CatBoostError

        try:
            if output == "predict_contrib":
                result = model.get_feature_importance(
                    rows, type="ShapValues", thread_count=self._threads, verbose=False
                )
            else:
                kind = {"predict": info.predict_type, "predict_proba": "Probability"}
                result = model.predict(
                    rows,
                    prediction_type=kind.get(output, "RawFormulaVal"),
                    thread_count=self._threads,
                )
        except CatBoostError as err:
            # CatBoost checks the rows it is given (a category where a number belongs, NaN in
            # a model trained to forbid it): the request's fault, not the server's.
            raise BadRequest(f"model {self.name!r}: {output} rejected the input: {err}") from err
        array = np.asarray(result)
        if output == "predict" and info.kind == "classifier":
            # Multi-class labels come back as a [rows, 1] column; a label per row is the answer.
            array = array.reshape(-1)
            if info.classes is not None and info.classes.dtype == object:
                array = np.asarray([str(v).encode("utf-8") for v in array], dtype=object)
        return array

    def inputs(self) -> list[MetadataTensor]:
        if self.settings.inputs:
            return list(self.settings.inputs)
        info = self._info
        if info is None:
            return []
        if info.float_only and info.default_names:
            return [MetadataTensor(name=INPUT_NAME, datatype="FP32", shape=[-1, info.n_features])]
        # One input per feature, named as the model names it (a DataFrame's columns).
        return [
            MetadataTensor(
                name=name,
                datatype="FP32" if info.feature_type(i) == "numeric" else "BYTES",
                shape=[-1],
                parameters={"feature_type": info.feature_type(i)},
            )
            for i, name in enumerate(info.feature_names)
        ]

    def outputs(self) -> list[MetadataTensor]:
        if self.settings.outputs:
            return list(self.settings.outputs)
        if self._info is None:
            return []
        return [self._info.output_metadata(name) for name in self._info.outputs]

    @property
    def default_output(self) -> str:
        """The output a request that names none gets."""
        return self._default

    @property
    def info(self) -> ModelInfo | None:
        """What the loaded model is (``None`` before ``load``)."""
        return self._info
