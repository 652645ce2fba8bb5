"""Runtimes, a plugin and model folders for the kernel's unit tests. Nothing is installed:
runtimes reach the kernel through a plugin object registered with pluggy."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from kernel import Runtime, hookimpl
from kernel.hookspecs import RegisterRuntime
from kernel.lifecycle import Kernel
from kernel.settings import ServerSettings
from protocol.messages import (
    UNSET,
    InferenceRequest,
    InferenceResponse,
    MetadataTensor,
    RequestInput,
    ResponseOutput,
)

#: Named gates a test opens to let a blocked load or predict continue.
GATES: dict[str, threading.Event] = {}
#: What runtimes did, in order: ("load" | "unload", tag).
EVENTS: list[tuple[str, str]] = []


def gate(name: str) -> threading.Event:
    return GATES.setdefault(name, threading.Event())


def _wait(name: str) -> None:
    if not gate(name).wait(10):
        raise TimeoutError(f"gate {name!r} never opened")


class Tagged(Runtime):
    """Answers ``out = x + 1`` and ``tag`` (settings ``extra.tag``), so a test can tell
    versions apart. ``extra.load_gate`` blocks load until opened; a request parameter
    ``wait`` blocks predict until that gate opens; ``extra.sleep`` sleeps in predict."""

    framework = "tagged"

    @property
    def tag(self) -> str:
        return str(self.settings.extra.get("tag", ""))

    async def load(self) -> None:
        if "load_gate" in self.settings.extra:
            _wait(self.settings.extra["load_gate"])
        EVENTS.append(("load", self.tag))

    async def predict(self, request: InferenceRequest) -> InferenceResponse:
        params = request.parameters or {}
        if "wait" in params:
            _wait(params["wait"])
        if "sleep" in params:
            time.sleep(float(params["sleep"]))  # noqa: ASYNC251 - blocking on purpose
        x = request.inputs[0].data
        return InferenceResponse(
            model_name="whatever",  # the kernel fills the real name
            outputs=[
                ResponseOutput("out", list(x.shape), "FP32", data=x + 1),
                ResponseOutput("tag", [1], "BYTES", data=np.array([self.tag.encode()], object)),
            ],
        )

    async def unload(self) -> None:
        EVENTS.append(("unload", self.tag))

    def inputs(self) -> list[MetadataTensor]:
        return [MetadataTensor("x", "FP32", [-1, 4])]

    def outputs(self) -> list[MetadataTensor]:
        return [MetadataTensor("out", "FP32", [-1, 4]), MetadataTensor("tag", "BYTES", [1])]


class BrokenLoad(Runtime):
    async def load(self) -> None:
        raise RuntimeError("weights file is corrupt")


class Raising(Runtime):
    async def predict(self, request: InferenceRequest) -> InferenceResponse:
        raise ValueError("cannot multiply shapes (1,3) and (4,2)")


class Plugin:
    """A plugin object registering the runtimes it is given."""

    def __init__(self, **runtimes: type[Runtime]) -> None:
        self.runtimes = runtimes

    @hookimpl
    def kernel_register_runtimes(self, register: RegisterRuntime) -> None:
        for name, cls in self.runtimes.items():
            register(name, cls)


def default_plugin() -> Plugin:
    return Plugin(tagged=Tagged, broken=BrokenLoad, raising=Raising)


def write_model(folder: Path, settings: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model-settings.json").write_text(json.dumps(settings))
    return folder


def make_kernel(root: Path, *plugins: object, freeze_heap: bool = False, **settings: Any) -> Kernel:
    """A kernel over ``root`` with exactly the built-ins and ``plugins`` (nothing installed)."""
    server = ServerSettings(model_repository_root=str(root), executor_threads=4, **settings)
    named = [(f"test{i}", p) for i, p in enumerate(plugins or (default_plugin(),))]
    return Kernel(server, plugins=named, autoload=False, environ={}, freeze_heap=freeze_heap)


def request(values: list[float], **parameters: Any) -> InferenceRequest:
    x = np.array([values], dtype=np.float32)
    return InferenceRequest(
        inputs=[RequestInput("x", list(x.shape), "FP32", data=x)],
        parameters=parameters or UNSET,
    )


def tag_of(response: InferenceResponse) -> str:
    out = {o.name: o for o in response.outputs}
    return bytes(out["tag"].data[0]).decode()
