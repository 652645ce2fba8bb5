"""The gRPC transport: ``build_server(data, control, settings)`` -> a grpclib Server."""

from __future__ import annotations

from kernel.grpc.server import GrpcSettings, build_server

__all__ = ["GrpcSettings", "build_server"]
