"""The gRPC server factory: a grpclib ``Server`` wired to the kernel's planes."""

from __future__ import annotations

from typing import Protocol

from grpclib.server import Server

from kernel.api import ControlPlane, DataPlane
from kernel.grpc import bounded, frames
from kernel.grpc.codec import KernelCodec
from kernel.grpc.health import HealthService
from kernel.grpc.service import InferenceService

__all__ = ["GrpcSettings", "build_server"]


class GrpcSettings(Protocol):
    """What the gRPC transport reads from the server settings."""

    @property
    def max_request_size(self) -> int:
        """Largest request message accepted, in bytes (RESOURCE_EXHAUSTED above it)."""
        ...


def build_server(data: DataPlane, control: ControlPlane, settings: GrpcSettings) -> Server:
    """A grpclib Server serving ``inference.GRPCInferenceService`` and ``grpc.health.v1.Health``.

    Start it with ``await server.start(host, port)``; stop it with ``server.close()`` then
    ``await server.wait_closed()``. Messages up to ``settings.max_request_size`` bytes are
    accepted (there is no 4 MiB cap); responses have no limit of their own.

    To serve a socket bound elsewhere (``server.start(sock=...)``), set ``TCP_NODELAY`` on it
    (Linux passes it on to accepted connections) or create it with ``proto=IPPROTO_TCP``:
    grpclib and asyncio set TCP_NODELAY themselves only when the listener's ``proto`` is TCP,
    and without it every call waits ~40 ms for a delayed ACK (measured).
    """
    frames.install()  # h2 formats every received frame; make that cheap (see kernel.grpc.frames)
    bounded.install()  # refuse an oversized message from its prefix (see kernel.grpc.bounded)
    # grpclib's HTTP/2 windows (4 MiB) are kept: 32 MiB windows measured no faster for 4-16 MB
    # messages here, and grpclib itself has no message-size cap to raise.
    return Server(
        [InferenceService(data, control), HealthService(data)],
        codec=KernelCodec(settings.max_request_size),
    )
