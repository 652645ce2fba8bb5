"""Routes plugins add through ``kernel_register_routes``, made safe to serve next to the kernel's.

Each plugin endpoint gets the body already read (bounded by ``max_request_size``, decompressed,
like every kernel route) and has its exceptions answered from the kernel's error table. A path
and method that the kernel or another plugin already serves fails the start-up, naming both.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import Message, Receive

from kernel.errors import PluginLoadError
from kernel.rest.body import read_body
from kernel.rest.errors import error_response

if TYPE_CHECKING:
    from kernel.api import ControlPlane, DataPlane
    from kernel.plugins import Plugins

__all__ = ["plugin_routes", "plugins_of"]

Endpoint = Callable[[Request], Awaitable[Response]]

#: Methods whose body is read (bounded) before the plugin's endpoint runs.
_WITH_BODY = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def plugins_of(data: object) -> Plugins | None:
    """The started kernel's plugins behind ``data`` (a ``Kernel``, or planes wrapping one in
    ``.kernel``); ``None`` when there is none."""
    from kernel.lifecycle import Kernel

    for candidate in (data, getattr(data, "kernel", None)):
        if isinstance(candidate, Kernel):
            try:
                return candidate.plugins
            except RuntimeError:  # not started: no plugins loaded yet
                return None
    return None


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # later calls watch for the client going away

    return replay


def _serve(endpoint: Endpoint, limit: int) -> Endpoint:
    async def serve(request: Request) -> Response:
        try:
            if request.method in _WITH_BODY:
                body, _ = await read_body(request.scope, request.receive, limit)
                request = Request(request.scope, _replay(body, request.receive))
            return await endpoint(request)
        except Exception as exc:
            return error_response(exc, request.method, request.url.path)

    serve.__name__ = getattr(endpoint, "__name__", "endpoint")
    return serve


def plugin_routes(
    plugins: Plugins, data: DataPlane, control: ControlPlane, limit: int, taken: Sequence[BaseRoute]
) -> list[BaseRoute]:
    """The plugins' routes, after the kernel's ``taken`` ones; ``PluginLoadError`` on a clash."""
    owners: dict[tuple[str, str], str] = {}
    for route in taken:
        if isinstance(route, Route):
            for method in route.methods or ():
                owners[(route.path, method)] = "the kernel"
    routes: list[BaseRoute] = []
    for added in plugins.register_routes(data, control):
        for method in added.methods:
            owner = owners.get((added.path, method))
            if owner is not None:
                raise PluginLoadError(
                    f"plugin {added.plugin!r} registers {method} {added.path}, which {owner}"
                    " already serves"
                )
            owners[(added.path, method)] = f"plugin {added.plugin!r}"
        endpoint: Any = added.endpoint
        routes.append(Route(added.path, _serve(endpoint, limit), methods=list(added.methods)))
    return routes
