"""Serving the REST app with uvicorn, parsing HTTP/1.1 with httptools (llhttp, in C).

uvicorn runs on kernel's own event loop (``Server.serve`` inside it, not ``uvicorn.run``), on
the socket kernel created. Its signal handling is switched off: kernel owns SIGTERM/SIGINT and
sets ``stop``, and the REST and gRPC servers must drain in kernel's order, not when uvicorn
happens to see the signal.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import socket
from collections.abc import Iterator
from typing import Any, Final

import uvicorn

from kernel.settings import ServerSettings

__all__ = ["PROTOCOL", "serve"]

logger = logging.getLogger("kernel.http_servers")

#: uvicorn's HTTP/1.1 implementation: httptools when installed (``kernel[uvicorn]`` brings it),
#: else the pure-Python h11, several times slower.
PROTOCOL: Final = "httptools" if importlib.util.find_spec("httptools") is not None else "h11"


class _Server(uvicorn.Server):
    """uvicorn's server without its signal handlers (they would replace kernel's)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve(
    app: Any, sock: socket.socket, settings: ServerSettings, stop: asyncio.Event
) -> None:
    """Serve ``app`` on ``sock`` until ``stop`` is set; uvicorn then closes the socket and idle
    connections, and waits up to ``graceful_timeout`` for responses in flight."""
    if PROTOCOL != "httptools":
        logger.warning(
            "httptools is not installed: uvicorn parses HTTP with h11, several times slower"
            " (pip install 'kernel[uvicorn]' installs both)"
        )
    # uvicorn types this ``int | None`` but only hands it to ``asyncio.wait_for``: a float is
    # what the setting holds and what that accepts.
    graceful: Any = settings.graceful_timeout
    config = uvicorn.Config(
        app,
        http=PROTOCOL,
        ws="none",
        lifespan="off",  # the app has no lifespan: run_server owns the kernel's start and stop
        interface="asgi3",
        log_config=None,  # leave kernel's logging configuration alone
        access_log=False,  # a log line per request costs more than httptools' whole parse
        proxy_headers=False,  # no X-Forwarded-* rewriting (hypercorn does none either)
        server_header=False,
        timeout_graceful_shutdown=graceful,
    )
    server = _Server(config)

    async def exit_on_stop() -> None:
        await stop.wait()
        server.should_exit = True  # seen within uvicorn's 0.1 s tick

    watcher = asyncio.create_task(exit_on_stop())
    try:
        await server.serve(sockets=[sock])
    finally:
        watcher.cancel()
