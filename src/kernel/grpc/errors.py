"""The one table mapping kernel and protocol errors to gRPC status codes."""

from __future__ import annotations

import logging
from typing import Final

from grpclib.const import Status
from grpclib.exceptions import GRPCError

from kernel.errors import (
    BadRequest,
    DeadlineExceeded,
    InferenceError,
    ModelNotFound,
    ModelNotReady,
    PayloadTooLarge,
)
from protocol.errors import ProtocolError

__all__ = ["STATUS_FOR", "status_for", "to_grpc_error"]

log = logging.getLogger("kernel.grpc")

#: Exception type -> status, most specific first. Anything not listed is INTERNAL.
STATUS_FOR: Final[tuple[tuple[type[Exception], Status], ...]] = (
    (ProtocolError, Status.INVALID_ARGUMENT),
    (BadRequest, Status.INVALID_ARGUMENT),
    (ModelNotFound, Status.NOT_FOUND),
    (ModelNotReady, Status.UNAVAILABLE),
    (PayloadTooLarge, Status.RESOURCE_EXHAUSTED),
    (InferenceError, Status.INTERNAL),
    (DeadlineExceeded, Status.DEADLINE_EXCEEDED),
)


def status_for(exc: Exception) -> Status:
    """The status an exception is answered with."""
    if isinstance(exc, GRPCError):
        return exc.status
    for kind, status in STATUS_FOR:
        if isinstance(exc, kind):
            return status
    return Status.INTERNAL


def _message(exc: Exception) -> str:
    for kind, _status in STATUS_FOR:
        if isinstance(exc, kind):
            return str(exc) or type(exc).__name__
    if isinstance(exc, GRPCError):
        return exc.message or exc.status.name
    # A bug's own text may hold internals; the client gets its type, the log gets the rest.
    return f"internal server error ({type(exc).__name__}); the server log has the details"


def to_grpc_error(exc: Exception, method: str) -> GRPCError:
    """The GRPCError to raise for ``exc`` raised while serving ``method``.

    Unexpected exceptions (bugs) are logged with their traceback; the listed ones are not,
    because the kernel already logged the server faults among them (``InferenceError``).
    """
    if isinstance(exc, GRPCError):
        return exc
    message = _message(exc)
    if not any(isinstance(exc, kind) for kind, _status in STATUS_FOR):
        log.error("gRPC %s failed: %s", method, message, exc_info=exc)
    return GRPCError(status_for(exc), message)


def error_message(exc: Exception, method: str) -> str:
    """The text for a streaming response's ``error_message`` (logged like ``to_grpc_error``)."""
    return to_grpc_error(exc, method).message or status_for(exc).name
