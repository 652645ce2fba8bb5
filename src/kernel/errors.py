"""The kernel's exceptions. No transport imports: each transport maps these to its own status
codes in one table (``kernel.rest.errors``, ``kernel.grpc.errors``). ``status_code`` gives the
HTTP-style code of each, which the REST table extends and the metrics ``code`` label uses, so
the two can never disagree."""

from __future__ import annotations

from typing import Final

from protocol.errors import ProtocolError

__all__ = [
    "STATUS_CODES",
    "BadRequest",
    "DeadlineExceeded",
    "InferenceError",
    "KernelError",
    "ModelLoadError",
    "ModelNotFound",
    "ModelNotReady",
    "PayloadTooLarge",
    "PluginLoadError",
    "RuntimeNotFound",
    "SettingsError",
    "status_code",
]


class KernelError(Exception):
    """Base of every error the kernel raises on purpose. ``str(err)`` is the client's message."""


class BadRequest(KernelError):
    """The request cannot be answered as sent (HTTP 400, gRPC INVALID_ARGUMENT).

    Runtimes raise it for inputs the model cannot take, or outputs it cannot give.
    """


class ModelLoadError(BadRequest):
    """A repository load (or reload) failed; the message has each failing version's reason.

    A ``BadRequest`` (HTTP 400, gRPC INVALID_ARGUMENT), as Triton answers a failed load.
    """


class ModelNotFound(KernelError):
    """No such model or version (HTTP 404, gRPC NOT_FOUND)."""


class ModelNotReady(KernelError):
    """The model exists but is loading, failed to load or is unloading (HTTP 503, UNAVAILABLE)."""


class PayloadTooLarge(KernelError):
    """The body is over ``max_request_size`` (HTTP 413, gRPC RESOURCE_EXHAUSTED)."""


class InferenceError(KernelError):
    """The runtime raised while predicting (HTTP 500, gRPC INTERNAL); carries its message."""


class DeadlineExceeded(KernelError):
    """The request did not finish before its deadline (the model's ``request_timeout`` or the
    client's ``timeout`` parameter): HTTP 504, gRPC DEADLINE_EXCEEDED."""


class RuntimeNotFound(KernelError):
    """``implementation`` resolves to no installed runtime."""


class PluginLoadError(KernelError):
    """A plugin failed to import or register; the message names the plugin."""


class SettingsError(KernelError):
    """A settings file or value is wrong; the message names the file and the field."""


#: Exception class -> HTTP-style status. Looked up along the exception's MRO, so a subclass of
#: ``BadRequest`` a runtime defines is still a 400.
STATUS_CODES: Final[dict[type[BaseException], int]] = {
    ProtocolError: 400,
    BadRequest: 400,
    ModelNotFound: 404,
    PayloadTooLarge: 413,
    InferenceError: 500,
    ModelNotReady: 503,
    DeadlineExceeded: 504,
}


def status_code(
    exc: BaseException, table: dict[type[BaseException], int] = STATUS_CODES
) -> int | None:
    """The status for ``exc`` from ``table``, or ``None`` when the table does not know it."""
    for cls in type(exc).__mro__:
        status = table.get(cls)
        if status is not None:
            return status
    return None
