"""In-test runtimes, the plugin that registers them through pluggy, and a model repository
that uses them. Nothing is installed: the plugin object goes straight to ``Kernel(plugins=...)``.

Models in the repository:

- ``echo`` (Triton layout, versions 1 and 2): every input comes back as an output of the same
  name; requested outputs must be among the inputs, else ``BadRequest`` (400).
- ``spare``: another echo, for unload/load round trips.
- ``broken``: loads, but its predict raises ``ValueError`` (the kernel's ``InferenceError``, 500).
- ``weights``: its load raises, so it is UNAVAILABLE (503, and the server is not ready).
- ``buggy``: loads, but its ``inputs()`` raises a plain bug: the transport's generic 500.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from msgspec import UNSET

from kernel import BadRequest, Runtime, hookimpl
from kernel.hookspecs import RegisterRuntime
from protocol.messages import InferenceRequest, InferenceResponse, MetadataTensor, ResponseOutput

#: The body limit the test server runs with (bytes).
LIMIT = 64 * 1024
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


class BrokenPredictRuntime(EchoRuntime):
    async def predict(self, request: InferenceRequest) -> InferenceResponse:
        raise ValueError(BROKEN_MESSAGE)


class BrokenLoadRuntime(EchoRuntime):
    async def load(self) -> None:
        raise RuntimeError(LOAD_FAILURE)


class BuggyMetadataRuntime(EchoRuntime):
    def inputs(self) -> list[MetadataTensor]:
        raise KeyError(BUG_SECRET)


class RestTestPlugin:
    """Registers the runtimes above, as an installed plugin would."""

    @hookimpl
    def kernel_register_runtimes(self, register: RegisterRuntime) -> None:
        register("test-echo", EchoRuntime)
        register("test-broken-predict", BrokenPredictRuntime)
        register("test-broken-load", BrokenLoadRuntime)
        register("test-buggy-metadata", BuggyMetadataRuntime)


TENSOR = {"name": "INPUT0", "datatype": "FP32", "shape": [-1, 4]}


def write_repository(root: Path) -> Path:
    """Write the model folders described in the module docstring below ``root``."""
    models: dict[str, dict[str, Any]] = {
        "echo": {"implementation": "test-echo", "max_batch_size": 8},
        "spare": {"implementation": "test-echo"},
        "broken": {"implementation": "test-broken-predict"},
        "weights": {"implementation": "test-broken-load"},
        "buggy": {"implementation": "test-buggy-metadata"},
    }
    for name, settings in models.items():
        folder = root / name
        folder.mkdir(parents=True)
        settings = {**settings, "inputs": [TENSOR], "outputs": [TENSOR]}
        (folder / "model-settings.json").write_text(json.dumps(settings))
    for version in ("1", "2"):
        (root / "echo" / version).mkdir()
    return root
