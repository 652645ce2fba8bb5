"""The one error type of the protocol package."""

from __future__ import annotations

__all__ = ["ProtocolError"]


class ProtocolError(ValueError):
    """A message that does not follow the V2 protocol.

    The message names the tensor (``input 'x'``) and what is wrong with it. Transports answer it
    with HTTP 400 / gRPC INVALID_ARGUMENT.
    """
