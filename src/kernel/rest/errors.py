"""The REST error table: every exception a request can raise, mapped to one status code.

Every non-200 answer carries ``{"error": "<message>"}``. Kernel and protocol errors carry a
message meant for the client; anything else is a bug, so the client gets a generic message and
the traceback goes to the server log, never over the wire.
"""

from __future__ import annotations

import logging

import msgspec
from starlette.requests import ClientDisconnect

from kernel import errors
from kernel.rest.responses import JSONStructResponse
from protocol.messages import ErrorResponse

__all__ = ["STATUS_CODES", "error_response", "status_for"]

logger = logging.getLogger("kernel.rest")

#: Exception class -> HTTP status: the kernel's own table (``kernel.errors.STATUS_CODES``) plus
#: what only HTTP meets. Looked up along the exception's MRO. Anything not listed is a 500 with a
#: generic message.
STATUS_CODES: dict[type[BaseException], int] = {
    **errors.STATUS_CODES,
    # The codecs turn msgspec errors into ProtocolError; this keeps any that slip through a 400.
    msgspec.DecodeError: 400,
    # The client went away mid-body: nobody reads this answer, but it is no server bug.
    ClientDisconnect: 400,
}

_INTERNAL = "internal server error (details are in the server log)"


def status_for(exc: BaseException) -> int | None:
    """The status code for ``exc``, or ``None`` when the table does not know it."""
    return errors.status_code(exc, STATUS_CODES)


def error_response(exc: BaseException, method: str = "", path: str = "") -> JSONStructResponse:
    """Answer ``exc`` as ``{"error": ...}`` with its status; log unexpected ones in full."""
    status = status_for(exc)
    if status is None:
        logger.error("unexpected error answering %s %s", method, path, exc_info=exc)
        return JSONStructResponse(ErrorResponse(error=_INTERNAL), status_code=500)
    if isinstance(exc, ClientDisconnect):
        message = "client disconnected before sending the whole body"
    else:
        message = str(exc) or type(exc).__name__
    return JSONStructResponse(ErrorResponse(error=message), status_code=status)
