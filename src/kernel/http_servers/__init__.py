"""The HTTP servers the REST app can run on, behind one function: ``serve_http``.

``hypercorn`` (the default, a required dependency) or ``uvicorn`` with httptools (the optional
extra ``kernel[uvicorn]``), chosen by the ``http_server`` setting. The ASGI app
(``kernel.rest``) knows neither; each server module maps kernel's settings onto its server's
options the same way: serve on a listening socket kernel created (shared by every process under
``--workers``), stop accepting when ``stop`` is set and let requests in flight finish within
``graceful_timeout``, no access log, no ``Server`` header, keep-alive connections kept open.
Both run on the caller's event loop, beside the gRPC server.
"""

from __future__ import annotations

import asyncio
import importlib.util
import socket
from collections.abc import Awaitable, Callable
from typing import Any, Final

from kernel.errors import SettingsError
from kernel.settings import ServerSettings

__all__ = ["HTTP_SERVERS", "ServeHttp", "check_installed", "load_http_server", "serve_http"]

#: ``http_server`` setting values, default first.
HTTP_SERVERS: Final = ("hypercorn", "uvicorn")

#: ``serve(app, sock, settings, stop)``: serve ``app`` on ``sock`` until ``stop`` is set.
ServeHttp = Callable[[Any, socket.socket, ServerSettings, asyncio.Event], Awaitable[None]]

_INSTALL: Final = {"uvicorn": "pip install 'kernel[uvicorn]'"}


def _not_installed(name: str, detail: str) -> SettingsError:
    return SettingsError(
        f"http_server {name!r} is not usable here ({detail}); install it with "
        f"`{_INSTALL[name]}` or set http_server to 'hypercorn'"
    )


def check_installed(name: str) -> None:
    """Raise ``SettingsError`` (naming the install command) when server ``name`` is missing.

    Looks for the distribution without importing it, so the supervisor can refuse a missing
    server before it starts any process, at no import cost.
    """
    if name not in HTTP_SERVERS:
        raise SettingsError(f"http_server {name!r} is not one of {', '.join(HTTP_SERVERS)}")
    if name == "uvicorn" and importlib.util.find_spec("uvicorn") is None:
        raise _not_installed(name, "uvicorn is not installed")


def load_http_server(name: str) -> ServeHttp:
    """The ``serve`` function of HTTP server ``name``, its imports done (they take a good
    part of a second: do it before models load). ``SettingsError`` when it is not installed."""
    check_installed(name)
    if name == "uvicorn":
        try:
            from kernel.http_servers import uvicorn_server
        except ImportError as exc:  # installed but broken, e.g. a half-removed package
            raise _not_installed(name, str(exc)) from None
        return uvicorn_server.serve
    from kernel.http_servers import hypercorn_server

    return hypercorn_server.serve


async def serve_http(
    app: Any, sock: socket.socket, settings: ServerSettings, stop: asyncio.Event
) -> None:
    """Serve the ASGI ``app`` on the listening ``sock`` with ``settings.http_server`` until
    ``stop`` is set, then finish requests in flight (up to ``settings.graceful_timeout``).
    The server takes ``sock`` over and closes it."""
    await load_http_server(settings.http_server)(app, sock, settings, stop)
