"""A runtime whose ``predict`` does nothing but return a pre-built answer (benchmarks only).

``ab.py`` copies this file next to a model's ``model-settings.json`` and names it as
``"implementation": "noop_runtime.NoopRuntime"``. It answers the iris classifier's four outputs
(``predict`` INT64[N], ``predict_proba`` / ``predict_log_proba`` / ``decision_function``
FP64[N, 3]) for the N rows of the request, from arrays built once per N: with the model's own
cost and its GIL hold gone, what a server spends per request is its own cost.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kernel.runtime import Runtime
from protocol.messages import InferenceRequest, InferenceResponse, MetadataTensor, ResponseOutput

_WIDTH = {"predict": 1, "predict_proba": 3, "predict_log_proba": 3, "decision_function": 3}


class NoopRuntime(Runtime):
    """Returns a cached ``InferenceResponse`` for the request's row count."""

    def __init__(self, settings: Any) -> None:
        super().__init__(settings)
        self._cache: dict[int, InferenceResponse] = {}

    async def predict(self, request: InferenceRequest) -> InferenceResponse:
        rows = int(request.inputs[0].shape[0])
        response = self._cache.get(rows)
        if response is None:
            outputs = []
            for name, width in _WIDTH.items():
                if width == 1:
                    data: Any = np.zeros(rows, dtype=np.int64)
                    shape = [rows]
                    datatype = "INT64"
                else:
                    data = np.zeros((rows, width), dtype=np.float64)
                    shape = [rows, width]
                    datatype = "FP64"
                outputs.append(ResponseOutput(name=name, datatype=datatype, shape=shape, data=data))
            response = self._cache[rows] = InferenceResponse(model_name=self.name, outputs=outputs)
        return response

    def inputs(self) -> list[MetadataTensor]:
        return [MetadataTensor(name="input-0", datatype="FP64", shape=[-1, 4])]

    def outputs(self) -> list[MetadataTensor]:
        return [
            MetadataTensor(
                name=name,
                datatype="INT64" if width == 1 else "FP64",
                shape=[-1] if width == 1 else [-1, width],
            )
            for name, width in _WIDTH.items()
        ]
