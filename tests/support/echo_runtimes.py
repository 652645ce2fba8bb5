"""In-test runtimes for the transport tests (tests/rest and tests/grpc), the plugin that
registers them through pluggy, and model repositories that use them. Nothing is installed: the
plugin object goes straight to ``Kernel(plugins=...)``.

Models ``write_repository`` can write:

- ``echo`` (Triton layout, versions 1 and 2, ``max_batch_size`` 8): every input comes back as
  an output of the same name, datatype, shape and data; requested outputs must be among the
  inputs, else ``BadRequest`` (400, INVALID_ARGUMENT).
- ``spare``: another echo, for unload/load round trips.
- ``slow``: an echo that first sleeps ``INPUT0[0]`` milliseconds (stream ordering).
- ``broken``: loads, but its predict raises ``ValueError`` (the kernel's ``InferenceError``:
  500, INTERNAL).
- ``weights``: its load raises, so it is UNAVAILABLE (503, and the server is not ready).
- ``liar``: answers an output whose data does not fill its declared shape (a server fault).
- ``buggy``: loads, but its ``inputs()`` raises a plain bug, whose text must not reach the
  client (the transport's generic error).
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

#: The body limit the REST test server runs with (bytes).
REST_LIMIT = 64 * 1024
#: The request size limit the gRPC test server runs with: above grpc's 4 MiB default on purpose.
GRPC_LIMIT = 12 * 1024 * 1024
BROKEN_MESSAGE = "the model blew up: division by zero"
LOAD_FAILURE = "weights file is corrupt"
BUG_SECRET = "secret internal detail 0xdeadbeef"


class EchoRuntime(Runtime):
    framework = "echo"

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


class EchoTestPlugin:
    """Registers the runtimes above, as an installed plugin would."""

    @hookimpl
    def kernel_register_runtimes(self, register: RegisterRuntime) -> None:
        register("test-echo", EchoRuntime)
        register("test-slow", SlowRuntime)
        register("test-broken-predict", BrokenPredictRuntime)
        register("test-broken-load", BrokenLoadRuntime)
        register("test-liar", LiarRuntime)
        register("test-buggy-metadata", BuggyMetadataRuntime)


TENSOR = {"name": "INPUT0", "datatype": "FP32", "shape": [-1, 4]}

#: Every model ``write_repository`` can write: its settings besides inputs and outputs.
MODELS: dict[str, dict[str, Any]] = {
    "echo": {"implementation": "test-echo", "max_batch_size": 8},
    "spare": {"implementation": "test-echo"},
    "slow": {"implementation": "test-slow"},
    "broken": {"implementation": "test-broken-predict"},
    "weights": {"implementation": "test-broken-load"},
    "liar": {"implementation": "test-liar"},
    "buggy": {"implementation": "test-buggy-metadata"},
}
#: The models each transport's tests serve.
REST_MODELS = ["echo", "spare", "broken", "weights", "buggy"]
GRPC_MODELS = ["echo", "slow", "broken", "weights", "liar", "buggy"]


def write_repository(root: Path, names: list[str]) -> Path:
    """Write the model folders ``names`` (described in the module docstring) below ``root``."""
    for name in names:
        folder = root / name
        folder.mkdir(parents=True)
        settings = {**MODELS[name], "inputs": [TENSOR], "outputs": [TENSOR]}
        (folder / "model-settings.json").write_text(json.dumps(settings))
        if name == "echo":
            for version in ("1", "2"):
                (folder / version).mkdir()
    return root
