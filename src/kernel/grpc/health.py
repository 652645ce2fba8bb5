"""``grpc.health.v1.Health/Check`` for Kubernetes gRPC probes."""

from __future__ import annotations

from typing import Any, Final

from grpclib.const import Cardinality, Handler, Status
from grpclib.exceptions import GRPCError
from grpclib.server import Stream

from kernel.api import DataPlane
from kernel.grpc.errors import to_grpc_error
from kernel.grpc.service import SERVICE, recv
from protocol._proto.grpc.health import v1 as health

__all__ = ["HealthService"]

#: The names a probe may ask about: "" is the whole server.
KNOWN: Final = frozenset({"", SERVICE})


class HealthService:
    """SERVING when the server is ready, NOT_SERVING otherwise; NOT_FOUND for other services."""

    def __init__(self, data: DataPlane) -> None:
        self._data = data

    def __mapping__(self) -> dict[str, Handler]:
        return {
            "/grpc.health.v1.Health/Check": Handler(
                self._check,
                Cardinality.UNARY_UNARY,
                health.HealthCheckRequest,
                health.HealthCheckResponse,
            )
        }

    async def _check(self, stream: Stream[Any, Any]) -> None:
        try:
            request = await recv(stream, health.HealthCheckRequest)
            if request.service not in KNOWN:
                raise GRPCError(Status.NOT_FOUND, f"unknown service {request.service!r}")
            ready = self._data.ready()
        except Exception as exc:
            raise to_grpc_error(exc, "Health/Check") from None
        serving = health.HealthCheckResponseServingStatus
        status = serving(serving.SERVING if ready else serving.NOT_SERVING)
        await stream.send_message(health.HealthCheckResponse(status=status))
