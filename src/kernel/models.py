"""Loaded models: one ``ModelVersion`` per version, with an explicit state, grouped per name.

States: LOADING -> READY or UNAVAILABLE (with a reason); READY -> UNLOADING when the version
is replaced or unloaded, after which it leaves the table once its requests in flight finish.
"""

from __future__ import annotations

import asyncio
import enum
from typing import TYPE_CHECKING, Any, Final

from kernel.codecs.typed import TypedPredict
from kernel.errors import ModelNotFound, ModelNotReady
from kernel.repository import ModelSource, version_key
from kernel.runtime import Runtime
from protocol.datatypes import DATATYPES
from protocol.messages import (
    UNSET,
    MetadataTensor,
    ModelConfig,
    ModelConfigInput,
    ModelConfigOutput,
    ModelMetadataResponse,
    UnsetType,
)

if TYPE_CHECKING:
    from kernel.batching import Batcher

__all__ = [
    "ModelState",
    "ModelVersion",
    "ModelVersions",
    "build_config",
    "build_metadata",
    "require_ready",
]


class ModelState(enum.Enum):
    """A model version's state, named as Triton's repository index names them."""

    LOADING = "LOADING"
    READY = "READY"
    UNAVAILABLE = "UNAVAILABLE"
    UNLOADING = "UNLOADING"


class ModelVersion:
    """One version of one model: where it came from, its runtime, state and requests in flight.

    Mutated only on the event loop, so the in-flight count needs no lock.
    """

    __slots__ = (
        "batcher",
        "idle",
        "inflight",
        "load_seconds",
        "reason",
        "runtime",
        "runtime_name",
        "source",
        "state",
        "typed",
    )

    def __init__(self, source: ModelSource) -> None:
        self.source = source
        self.state = ModelState.LOADING
        self.reason = ""
        self.runtime: Runtime | None = None
        self.runtime_name = ""
        #: Set at load for a runtime whose ``predict`` takes values, not messages.
        self.typed: TypedPredict | None = None
        #: Made on first request when ``max_batch_size`` > 1 (``kernel.batching``).
        self.batcher: Batcher | None = None
        self.load_seconds: float | None = None
        self.inflight = 0
        #: Set once ``inflight`` reaches 0 after the version stopped taking requests.
        self.idle: asyncio.Event | None = None

    @property
    def name(self) -> str:
        return self.source.name

    @property
    def version(self) -> str:
        return self.source.version

    def label(self) -> str:
        return f"model {self.name!r}" + (f" version {self.version!r}" if self.version else "")

    def finished(self) -> None:
        """One request ended; wake whoever waits for the version to drain."""
        self.inflight -= 1
        if self.inflight == 0 and self.idle is not None:
            self.idle.set()


class ModelVersions:
    """Every version of one model name, newest last."""

    __slots__ = ("_order", "lock", "name", "versions")

    def __init__(self, name: str) -> None:
        self.name = name
        self.versions: dict[str, ModelVersion] = {}
        self._order: list[ModelVersion] = []
        #: Serialises loads and unloads of this name.
        self.lock = asyncio.Lock()

    def put(self, mv: ModelVersion) -> ModelVersion | None:
        """Install ``mv``; return the version it replaced, if any."""
        old = self.versions.get(mv.version)
        self.versions[mv.version] = mv
        self._sort()
        return old

    def remove(self, version: str) -> ModelVersion | None:
        old = self.versions.pop(version, None)
        self._sort()
        return old

    def _sort(self) -> None:
        self._order = sorted(self.versions.values(), key=lambda v: version_key(v.version))

    def all(self) -> list[ModelVersion]:
        return list(self._order)

    def find(self, version: str | None) -> ModelVersion:
        """The named version; without one, the newest READY version, else the newest.

        Raises ``ModelNotFound`` naming the versions there are.
        """
        if version:
            mv = self.versions.get(version)
            if mv is None:
                known = ", ".join(repr(v.version) for v in self._order) or "none"
                raise ModelNotFound(
                    f"model {self.name!r} has no version {version!r}; versions: {known}"
                )
            return mv
        if not self._order:
            raise ModelNotFound(f"model {self.name!r} has no versions")
        for mv in reversed(self._order):
            if mv.state is ModelState.READY:
                return mv
        return self._order[-1]


def require_ready(mv: ModelVersion) -> Runtime:
    """The version's runtime; ``ModelNotReady`` with the state and reason otherwise."""
    if mv.state is ModelState.READY and mv.runtime is not None:
        return mv.runtime
    why = f": {mv.reason}" if mv.reason else ""
    raise ModelNotReady(f"{mv.label()} is not ready ({mv.state.value}){why}")


def _inputs(mv: ModelVersion, runtime: Runtime) -> list[MetadataTensor]:
    """The runtime's input metadata, else (typed runtimes) what ``predict``'s signature says."""
    declared = list(runtime.inputs())
    return declared if declared or mv.typed is None else mv.typed.inputs()


def _outputs(mv: ModelVersion, runtime: Runtime) -> list[MetadataTensor]:
    declared = list(runtime.outputs())
    return declared if declared or mv.typed is None else mv.typed.outputs()


def build_metadata(
    mv: ModelVersion, runtime: Runtime, versions: list[str]
) -> ModelMetadataResponse:
    """V2 model metadata from the runtime's ``inputs()``/``outputs()`` and the settings."""
    settings = runtime.settings
    platform = settings.platform or runtime.framework or mv.runtime_name
    return ModelMetadataResponse(
        name=mv.name,
        platform=platform,
        versions=[v for v in versions if v] or UNSET,
        inputs=_inputs(mv, runtime),
        outputs=_outputs(mv, runtime),
        parameters=_metadata_parameters(runtime),
    )


def _metadata_parameters(runtime: Runtime) -> dict[str, Any] | UnsetType:
    extra = runtime.metadata_parameters()
    content_type = runtime.settings.parameters.content_type
    merged = {**extra, "content_type": content_type} if content_type else dict(extra)
    return merged or UNSET


_TYPE_INVALID: Final = "TYPE_INVALID"


def _dims(tensor: MetadataTensor, batched: bool) -> list[int]:
    # With max_batch_size > 0 Triton's dims leave out the batch dimension.
    return list(tensor.shape[1:] if batched and tensor.shape else tensor.shape)


def _config_type(datatype: str) -> str:
    row = DATATYPES.get(datatype)
    return row.config_type if row is not None else _TYPE_INVALID


def build_config(mv: ModelVersion, runtime: Runtime) -> ModelConfig:
    """Triton's ``ModelConfig`` for the version (what perf_analyzer reads before a run)."""
    settings = runtime.settings
    batched = settings.max_batch_size > 0
    return ModelConfig(
        name=mv.name,
        platform=settings.platform,
        backend=mv.runtime_name,
        max_batch_size=settings.max_batch_size,
        input=[
            ModelConfigInput(
                name=t.name, data_type=_config_type(t.datatype), dims=_dims(t, batched)
            )
            for t in _inputs(mv, runtime)
        ],
        output=[
            ModelConfigOutput(
                name=t.name, data_type=_config_type(t.datatype), dims=_dims(t, batched)
            )
            for t in _outputs(mv, runtime)
        ],
    )
