"""Deadlines a transport learns from its protocol rather than from the request message.

gRPC carries the client's timeout in the ``grpc-timeout`` header (grpclib: ``stream.deadline``),
outside the ``ModelInferRequest``. The transport registers it for the request while the request
runs (``transport_deadline``); a pool reads it back (``transport_timeout``) and the smallest of
that, the model's ``request_timeout`` and the request parameter ``timeout`` bounds the call.

It is kept beside the request, keyed by the request object's identity for exactly as long as the
transport's call, rather than written into ``request.parameters``: parameters are what the
runtime sees and what adaptive batching compares, and a per-request remaining time would keep
any two requests from ever being merged. A batched call is a new request object, so it runs
under the model's own limits only (the transport still answers its caller at the deadline).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from protocol.messages import InferenceRequest

__all__ = ["transport_deadline", "transport_timeout"]

_deadlines: dict[int, float] = {}

#: What a deadline already past becomes: not 0, which means "no limit".
_EXPIRED = 1e-6


@contextmanager
def transport_deadline(request: InferenceRequest, remaining: float | None) -> Iterator[None]:
    """While the block runs, ``request`` must finish within ``remaining`` seconds from now
    (``None``: the transport sets no deadline)."""
    if remaining is None:
        yield
        return
    key = id(request)
    _deadlines[key] = time.monotonic() + remaining
    try:
        yield
    finally:
        _deadlines.pop(key, None)


def transport_timeout(request: InferenceRequest) -> float:
    """Seconds left before the transport's deadline for ``request``; 0 when it has none."""
    deadline = _deadlines.get(id(request))
    if deadline is None:
        return 0.0
    return max(deadline - time.monotonic(), _EXPIRED)
