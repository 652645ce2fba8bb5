"""``POST /v2/models/{model}[/versions/{version}]/infer`` answered straight from the ASGI scope.

Inference is the one route whose cost matters per request. Starlette's way to it (middleware
stack, route regexes, a ``Request`` object, a ``Response`` object) costs tens of microseconds
that a two-line path split does not; the other routes keep starlette's routing. Both ways run
the same ``Endpoints.infer_wire`` and the same error table, so the answers are identical.
"""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.types import Receive, Scope, Send

from kernel.rest.endpoints import Endpoints
from kernel.rest.errors import error_response

__all__ = ["KernelApp", "infer_target"]

_PREFIX = "/v2/models/"
_SUFFIX = "/infer"


def infer_target(path: str) -> tuple[str, str | None] | None:
    """``(model, version or None)`` when ``path`` is an infer route, else ``None``."""
    if not (path.startswith(_PREFIX) and path.endswith(_SUFFIX)):
        return None
    middle = path[len(_PREFIX) : -len(_SUFFIX)]
    if not middle:
        return None
    if "/" not in middle:
        return middle, None
    parts = middle.split("/")
    if len(parts) == 3 and parts[1] == "versions" and parts[0] and parts[2]:
        return parts[0], parts[2]
    return None


class KernelApp(Starlette):
    """The kernel's starlette app, with inference requests taken before the router."""

    def __init__(self, endpoints: Endpoints, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.endpoints = endpoints

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            target = infer_target(scope["path"])
            if target is not None:
                await self._infer(scope, receive, send, *target)
                return
        await super().__call__(scope, receive, send)

    async def _infer(
        self, scope: Scope, receive: Receive, send: Send, model: str, version: str | None
    ) -> None:
        try:
            body, headers = await self.endpoints.infer_wire(scope, receive, model, version)
        except Exception as exc:
            await error_response(exc, "POST", scope["path"])(scope, receive, send)
            return
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})
