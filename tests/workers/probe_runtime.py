"""The runtime the worker tests serve, copied into each model folder as ``probe.py`` (the
kernel imports a model's own ``.py`` file in whichever process loads the model).

It answers ``y`` (its input ``x`` unchanged, any datatype), ``pid`` (the process that ran it)
and ``numpy`` (that process's numpy version), reports the process that loaded it in its metadata
parameters (``loaded_by``), and counts its calls in the runtime metric
``probe_calls_total``. Request parameters steer it: ``sleep`` (seconds
to block), ``crash`` (exit the process at once, as a segfaulting framework would).
"""

from __future__ import annotations

import os
import time

import numpy as np

from kernel import InferenceRequest, InferenceResponse, Runtime, output_from_numpy


class Probe(Runtime):
    async def load(self) -> None:
        self.calls = self.metrics.counter("probe_calls_total", "Requests the probe answered.")

    def metadata_parameters(self) -> dict[str, object]:
        return {"loaded_by": os.getpid()}

    async def predict(self, request: InferenceRequest) -> InferenceResponse:
        params = request.parameters or {}
        self.calls.inc()
        if params.get("crash"):
            os._exit(3)
        if params.get("sleep"):
            time.sleep(float(params["sleep"]))  # noqa: ASYNC251 - a blocking framework call
        x = request.inputs[0]
        return InferenceResponse(
            model_name=self.name,
            outputs=[
                output_from_numpy("y", x.data),
                output_from_numpy("pid", np.array([os.getpid()], dtype=np.int64)),
                output_from_numpy("numpy", np.array([np.__version__.encode()], dtype=object)),
            ],
        )
