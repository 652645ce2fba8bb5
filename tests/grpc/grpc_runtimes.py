"""In-test runtimes for the gRPC transport tests, registered through pluggy by a plugin object
handed straight to ``Kernel(plugins=...)``, and a model repository that uses them.

Models:

- ``echo`` (versions 1 and 2, ``max_batch_size`` 8): every input comes back as an output of the
  same name, same datatype, shape and data; requested outputs must be among the inputs
  (else ``BadRequest``).
- ``slow``: an echo that first sleeps ``INPUT0[0]`` milliseconds (stream ordering).
- ``broken``: predict raises ``ValueError`` (kernel's ``InferenceError``: INTERNAL).
- ``weights``: load raises, so the model is UNAVAILABLE.
- ``liar``: answers an output whose data does not fill its declared shape (a server fault).
- ``buggy``: its ``inputs()`` raises a plain bug, whose text must not reach the client.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import numpy as np
from msgspec import UNSET

from kernel import BadRequest, Runtime, hookimpl
from kernel.hookspecs import RegisterRuntime
from protocol.messages import InferenceRequest, InferenceResponse, MetadataTensor, ResponseOutput

#: The request size limit the test server runs with: above grpc's 4 MiB default on purpose.
LIMIT = 12 * 1024 * 1024
BROKEN_MESSAGE = "the model blew up: division by zero"
LOAD_FAILURE = "weights file is corrupt"
BUG_SECRET = "secret internal detail 0xdeadbeef"


class EchoRuntime(Runtime):
    async def predict(self, request: InferenceRequest) -> InferenceResponse:
        by_name = {tensor.name: tensor for tensor in request.inputs}
        wanted = list(by_name) if request.outputs is UNSET else [o.name for o in request.outputs]
        outputs = []
        for name in wanted:
            tensor = by_name.get(name)
            if tensor is None:
                raise BadRequest(f"{self.name} has no output {name!r}; it has {list(by_name)}")
            outputs.append(
                ResponseOutput(
                    name=name, shape=list(tensor.shape), datatype=tensor.datatype, data=tensor.data
                )
            )
        return InferenceResponse(model_name=self.name, outputs=outputs)


class SlowRuntime(EchoRuntime):
    async def predict(self, request: InferenceRequest) -> InferenceResponse:
        delay = float(np.asarray(request.inputs[0].data).reshape(-1)[0])
        await asyncio.sleep(delay / 1000)
        return await super().predict(request)


class BrokenPredictRuntime(EchoRuntime):
    async def predict(self, request: InferenceRequest) -> InferenceResponse:
        raise ValueError(BROKEN_MESSAGE)


class BrokenLoadRuntime(EchoRuntime):
    async def load(self) -> None:
        raise RuntimeError(LOAD_FAILURE)


class LiarRuntime(EchoRuntime):
    async def predict(self, request: InferenceRequest) -> InferenceResponse:
        out = ResponseOutput(name="OUTPUT0", shape=[5], datatype="FP32", data=np.zeros(2))
        return InferenceResponse(model_name=self.name, outputs=[out])


class BuggyMetadataRuntime(EchoRuntime):
    def inputs(self) -> list[MetadataTensor]:
        raise KeyError(BUG_SECRET)


class GrpcTestPlugin:
    """Registers the runtimes above, as an installed plugin would."""

    @hookimpl
    def kernel_register_runtimes(self, register: RegisterRuntime) -> None:
        register("grpc-echo", EchoRuntime)
        register("grpc-slow", SlowRuntime)
        register("grpc-broken-predict", BrokenPredictRuntime)
        register("grpc-broken-load", BrokenLoadRuntime)
        register("grpc-liar", LiarRuntime)
        register("grpc-buggy-metadata", BuggyMetadataRuntime)


TENSOR = {"name": "INPUT0", "datatype": "FP32", "shape": [-1, 4]}


def write_repository(root: Path) -> Path:
    """Write the model folders described in the module docstring below ``root``."""
    models: dict[str, dict[str, Any]] = {
        "echo": {"implementation": "grpc-echo", "max_batch_size": 8},
        "slow": {"implementation": "grpc-slow"},
        "broken": {"implementation": "grpc-broken-predict"},
        "weights": {"implementation": "grpc-broken-load"},
        "liar": {"implementation": "grpc-liar"},
        "buggy": {"implementation": "grpc-buggy-metadata"},
    }
    for name, settings in models.items():
        folder = root / name
        folder.mkdir(parents=True)
        settings = {**settings, "inputs": [TENSOR], "outputs": [TENSOR]}
        (folder / "model-settings.json").write_text(json.dumps(settings))
    for version in ("1", "2"):
        (root / "echo" / version).mkdir()
    return root
