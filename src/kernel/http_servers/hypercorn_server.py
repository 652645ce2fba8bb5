"""Serving the REST app with hypercorn (h11 for HTTP/1.1, h2 for HTTP/2 with prior knowledge)."""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any, Final

from hypercorn.asyncio import serve as hypercorn_serve
from hypercorn.config import Config

from kernel.settings import ServerSettings

__all__ = ["serve"]

#: Effectively unlimited requests per keep-alive connection.
_MANY: Final = 2**31 - 1


async def serve(
    app: Any, sock: socket.socket, settings: ServerSettings, stop: asyncio.Event
) -> None:
    """Serve ``app`` on ``sock`` until ``stop`` is set; hypercorn then stops accepting, closes
    idle connections and waits up to ``graceful_timeout`` for requests in flight."""
    config = Config()
    # hypercorn wraps the descriptor in a socket of its own; detach so only it closes it.
    config.bind = [f"fd://{sock.detach()}"]
    config.graceful_timeout = settings.graceful_timeout
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")
    config.include_server_header = False
    # hypercorn closes a keep-alive connection after 1000 requests by default; clients then pay
    # a reconnect (and the server a new connection's set-up) every 1000 inferences for nothing.
    config.keep_alive_max_requests = _MANY
    # ``app`` is a starlette app: its ASGI signature and hypercorn's ASGIFramework type are
    # equivalent but spelt differently, hence ``Any``.
    await hypercorn_serve(app, config, shutdown_trigger=stop.wait, mode="asgi")
