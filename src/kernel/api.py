"""What the transports may ask of the kernel: the data plane and the control plane.

REST and gRPC are written against these two Protocols, never against ``Kernel`` internals, so
that the multi-process server can answer control operations for the whole process tree (a load
sent to one process applies to all) by providing another ``ControlPlane`` without touching either
transport.

Every method raises ``kernel.errors`` exceptions (``ModelNotFound``, ``ModelNotReady``,
``BadRequest``, ``InferenceError``) or ``protocol.ProtocolError``; the transports map them to
status codes in one table each.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Protocol

from protocol.messages import (
    InferenceRequest,
    InferenceResponse,
    ModelConfig,
    ModelMetadataResponse,
    RepositoryIndexEntry,
    ServerMetadataResponse,
)

__all__ = ["ControlPlane", "DataPlane"]


class DataPlane(Protocol):
    """Per-request operations. ``version`` is ``None`` (or ``""``) for the newest version."""

    async def infer(
        self, name: str, version: str | None, request: InferenceRequest, *, protocol: str = "rest"
    ) -> InferenceResponse:
        """Run one inference. ``protocol`` ("rest" or "grpc") labels the metrics."""
        ...

    def live(self) -> bool: ...

    def ready(self) -> bool:
        """True when the server is ready (strict: every model READY, unless relaxed)."""
        ...

    def model_ready(self, name: str, version: str | None) -> bool:
        """Readiness of one model version; raises ``ModelNotFound`` when it does not exist."""
        ...

    def server_metadata(self) -> ServerMetadataResponse: ...

    def model_metadata(self, name: str, version: str | None) -> ModelMetadataResponse: ...

    def model_config(self, name: str, version: str | None) -> ModelConfig: ...

    def metrics(self) -> bytes | Awaitable[bytes]:
        """Prometheus text exposition of the whole server; awaitable when it must be gathered
        from several processes (the multi-process server)."""
        ...


class ControlPlane(Protocol):
    """Model-repository operations; each applies to the whole server."""

    async def repository_index(self, ready_only: bool = False) -> list[RepositoryIndexEntry]: ...

    async def load_model(self, name: str) -> None:
        """Load (or reload) a model from the repository folder; a reload swaps the new one in
        only once it is ready, and requests in flight finish on the old one."""
        ...

    async def unload_model(self, name: str) -> None:
        """Unload every version of a model; it answers 404 afterwards."""
        ...
