"""The REST transport: a starlette app serving PROTOCOL.md §1 over a DataPlane and ControlPlane.

Every per-model route exists with and without ``/versions/{version}``. The app carries no
middleware of its own: each endpoint answers its own errors through the one table in
``kernel.rest.errors`` (so the hot path never unwinds through middleware), and starlette's
404/405 go through the same ``{"error": ...}`` shape.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from kernel.api import ControlPlane, DataPlane
from kernel.rest.endpoints import Endpoints, RestSettings
from kernel.rest.errors import error_response
from kernel.rest.fast_infer import KernelApp
from kernel.rest.plugin_routes import plugin_routes, plugins_of
from kernel.rest.responses import JSONStructResponse
from protocol.messages import ErrorResponse

if TYPE_CHECKING:
    from kernel.plugins import Plugins

__all__ = ["RestSettings", "build_app"]

Handler = Callable[[Request], Awaitable[Response]]

_MODEL = "/v2/models/{model}"
_VERSIONED = "/v2/models/{model}/versions/{version}"


def _guarded(handler: Handler) -> Handler:
    """Answer any exception ``handler`` raises from the error table, inside the endpoint."""

    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request)
        except Exception as exc:
            return error_response(exc, request.method, request.url.path)

    endpoint.__name__ = getattr(handler, "__name__", "endpoint")
    return endpoint


def _routes(endpoints: Endpoints, metrics: bool) -> list[BaseRoute]:
    per_model: list[tuple[str, Handler, str]] = [
        ("/infer", endpoints.infer, "POST"),
        ("/ready", endpoints.model_ready, "GET"),
        ("/config", endpoints.model_config, "GET"),
        ("", endpoints.model_metadata, "GET"),
    ]
    routes: list[BaseRoute] = []
    # Inference first: starlette tries routes in order, and infer is the hot path.
    for suffix, handler, method in per_model:
        guarded = _guarded(handler)
        routes.append(Route(_MODEL + suffix, guarded, methods=[method]))
        routes.append(Route(_VERSIONED + suffix, guarded, methods=[method]))
    server: list[tuple[str, Handler, str]] = [
        ("/v2/health/live", endpoints.server_live, "GET"),
        ("/v2/health/ready", endpoints.server_ready, "GET"),
        ("/v2", endpoints.server_metadata, "GET"),
        ("/v2/repository/index", endpoints.repository_index, "POST"),
        ("/v2/repository/models/{model}/load", endpoints.repository_load, "POST"),
        ("/v2/repository/models/{model}/unload", endpoints.repository_unload, "POST"),
    ]
    if metrics:
        server.append(("/metrics", endpoints.metrics, "GET"))
    routes.extend(Route(path, _guarded(h), methods=[m]) for path, h, m in server)
    return routes


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own 404 (no route) and 405 (wrong method), as ``{"error": ...}``."""
    assert isinstance(exc, HTTPException)
    method, path = request.method, request.url.path
    if exc.status_code == 404:
        message = f"no endpoint at {path}"
    elif exc.status_code == 405:
        allowed = (exc.headers or {}).get("Allow", "")
        message = f"method {method} is not allowed on {path} (allowed: {allowed})"
    else:
        message = exc.detail
    headers = (exc.headers or {}).items()
    extra = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]
    return JSONStructResponse(ErrorResponse(error=message), exc.status_code, extra)


def build_app(
    data: DataPlane,
    control: ControlPlane,
    settings: RestSettings,
    *,
    plugins: Plugins | None = None,
) -> Starlette:
    """Build the REST app for one kernel.

    ``settings`` needs ``max_request_size`` (bytes): bodies over it are answered 413 without
    being kept. An optional ``metrics`` attribute set to false leaves out ``GET /metrics``.
    ``plugins`` add routes through ``kernel_register_routes`` (by default the started kernel's
    behind ``data``), served after the kernel's own.
    The app has no lifespan: whoever runs it owns the kernel's start and stop.
    """
    endpoints = Endpoints(data, control, settings)
    metrics = bool(getattr(settings, "metrics", True))
    routes = _routes(endpoints, metrics)
    plugins = plugins if plugins is not None else plugins_of(data)
    if plugins is not None:
        routes += plugin_routes(plugins, data, control, settings.max_request_size, routes)
    return KernelApp(endpoints, routes=routes, exception_handlers={HTTPException: _http_error})
