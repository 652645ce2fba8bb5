"""The REST endpoints: each turns one HTTP request into one kernel call.

Transport only: bodies are decoded and encoded by ``protocol.rest``; every answer comes from the
``DataPlane`` / ``ControlPlane`` methods in ``kernel.api``. Errors are raised, never answered
here: ``kernel.rest.app`` maps them through the one table in ``kernel.rest.errors``.
"""

from __future__ import annotations

from typing import Protocol

from msgspec import Struct
from starlette.requests import Request
from starlette.types import Receive, Scope

from kernel.api import ControlPlane, DataPlane
from kernel.errors import BadRequest
from kernel.rest.body import read_body
from kernel.rest.responses import (
    JSON,
    OCTET_STREAM,
    PROMETHEUS_TEXT,
    JSONStructResponse,
    WireResponse,
)
from protocol.messages import (
    UNSET,
    ModelReadyResponse,
    RepositoryIndexRequest,
    RepositoryLoadRequest,
    RepositoryUnloadRequest,
    ServerLiveResponse,
    ServerReadyResponse,
)
from protocol.rest import decode_infer_request, decode_json, encode_infer_response

__all__ = ["Endpoints", "RestSettings"]


class RestSettings(Protocol):
    """The server settings the REST transport reads (``kernel.settings.ServerSettings`` fits)."""

    @property
    def max_request_size(self) -> int:
        """Largest request body accepted, in bytes (after decompression too)."""
        ...


class _LoadResponse(Struct):
    """kserve's load answer; Triton clients ignore the body."""

    name: str
    load: bool


class _UnloadResponse(Struct):
    name: str
    unload: bool


_JSON_TYPE = (b"content-type", JSON)
_BINARY_TYPE = (b"content-type", OCTET_STREAM)


def _ready_status(ready: bool) -> int:
    return 200 if ready else 503


class Endpoints:
    """Every route's handler, bound to one kernel."""

    def __init__(self, data: DataPlane, control: ControlPlane, settings: RestSettings) -> None:
        self.data = data
        self.control = control
        self.limit = settings.max_request_size

    async def _body(self, request: Request) -> tuple[bytes, int | None]:
        return await read_body(request.scope, request.receive, self.limit)

    # --- inference ------------------------------------------------------------------------

    async def infer(self, request: Request) -> WireResponse:
        params = request.path_params
        body, headers = await self.infer_wire(
            request.scope, request.receive, params["model"], params.get("version")
        )
        return WireResponse(body, raw_headers=headers)

    async def infer_wire(
        self, scope: Scope, receive: Receive, model: str, version: str | None
    ) -> tuple[bytes, list[tuple[bytes, bytes]]]:
        """One inference from the ASGI request to the answer's body and raw headers."""
        body, header_length = await read_body(scope, receive, self.limit)
        inference_request = decode_infer_request(body, header_length)
        response = await self.data.infer(model, version, inference_request, protocol="rest")
        payload, json_length = encode_infer_response(response, inference_request)
        size = (b"content-length", str(len(payload)).encode("ascii"))
        if json_length is None:
            return payload, [size, _JSON_TYPE]
        return payload, [
            size,
            _BINARY_TYPE,
            (b"inference-header-content-length", str(json_length).encode("ascii")),
        ]

    # --- health and metadata --------------------------------------------------------------

    async def server_live(self, request: Request) -> WireResponse:
        live = self.data.live()
        return JSONStructResponse(ServerLiveResponse(live=live), _ready_status(live))

    async def server_ready(self, request: Request) -> WireResponse:
        ready = self.data.ready()
        return JSONStructResponse(ServerReadyResponse(ready=ready), _ready_status(ready))

    async def server_metadata(self, request: Request) -> WireResponse:
        return JSONStructResponse(self.data.server_metadata())

    async def model_metadata(self, request: Request) -> WireResponse:
        params = request.path_params
        return JSONStructResponse(self.data.model_metadata(params["model"], params.get("version")))

    async def model_ready(self, request: Request) -> WireResponse:
        params = request.path_params
        name = params["model"]
        ready = self.data.model_ready(name, params.get("version"))
        return JSONStructResponse(ModelReadyResponse(name=name, ready=ready), _ready_status(ready))

    async def model_config(self, request: Request) -> WireResponse:
        params = request.path_params
        return JSONStructResponse(self.data.model_config(params["model"], params.get("version")))

    async def metrics(self, request: Request) -> WireResponse:
        text = self.data.metrics()
        if not isinstance(text, bytes):  # the multi-process server gathers it from every process
            text = await text
        return WireResponse(text, media_type=PROMETHEUS_TEXT)

    # --- model repository -----------------------------------------------------------------

    async def repository_index(self, request: Request) -> WireResponse:
        body, _ = await self._body(request)
        # tritonclient sends an empty body; others send {} or {"ready": true}.
        ready_only = False
        if body.strip():
            ready_only = decode_json(body, RepositoryIndexRequest).ready
        return JSONStructResponse(await self.control.repository_index(ready_only=ready_only))

    async def repository_load(self, request: Request) -> WireResponse:
        name = request.path_params["model"]
        body, _ = await self._body(request)
        if body.strip():
            parameters = decode_json(body, RepositoryLoadRequest).parameters
            if parameters is not UNSET:
                # Triton's override parameters would silently load something other than
                # what the client asked for: refuse them by name instead.
                unsupported = sorted(
                    key for key in parameters if key == "config" or key.startswith("file:")
                )
                if unsupported:
                    raise BadRequest(
                        f"model load parameters {unsupported} are not supported: kernel loads "
                        f"'{name}' from its folder in the model repository"
                    )
        await self.control.load_model(name)
        return JSONStructResponse(_LoadResponse(name=name, load=True))

    async def repository_unload(self, request: Request) -> WireResponse:
        name = request.path_params["model"]
        body, _ = await self._body(request)
        if body.strip():
            # Validated for shape only: unload_dependents has no meaning without ensembles.
            decode_json(body, RepositoryUnloadRequest)
        await self.control.unload_model(name)
        return JSONStructResponse(_UnloadResponse(name=name, unload=True))
