"""MLflow's scoring routes on the kernel's REST server: ``POST /invocations``,
``POST /v2/models/{model}[/versions/{version}]/invocations``, ``GET /ping``, ``GET /health``
and ``GET /version``, registered through ``kernel_register_routes``.

The routes pick the model and hand the body to it through the data plane (see
``kernel_mlflow._invocations``); errors answer in MLflow's shape,
``{"error_code": ..., "message": ...}``, which MLflow's clients read.
"""

from __future__ import annotations

import importlib.metadata
import logging
from typing import TYPE_CHECKING

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from kernel.errors import BadRequest, KernelError, ModelNotFound, ModelNotReady, PayloadTooLarge
from kernel_mlflow._invocations import INVOCATIONS, SUPPORTED, forward_request
from kernel_mlflow.runtime import loaded_runtimes
from protocol.errors import ProtocolError

if TYPE_CHECKING:
    from kernel.api import ControlPlane, DataPlane
    from kernel.hookspecs import RegisterRoute

__all__ = ["register_scoring_routes"]

logger = logging.getLogger("kernel_mlflow")

#: The runtime name the kernel reports (``ModelConfig.backend``) for MLflow models.
RUNTIME = "mlflow"

_ERRORS: tuple[tuple[type[Exception], int, str], ...] = (
    (ProtocolError, 400, "BAD_REQUEST"),
    (BadRequest, 400, "BAD_REQUEST"),
    (ModelNotFound, 404, "RESOURCE_DOES_NOT_EXIST"),
    (ModelNotReady, 503, "TEMPORARILY_UNAVAILABLE"),
    (PayloadTooLarge, 413, "BAD_REQUEST"),
)


def _error(status: int, code: str, message: str) -> Response:
    body = msgspec.json.encode({"error_code": code, "message": message})
    return Response(body, status, media_type="application/json")


def _from_exception(exc: Exception) -> Response:
    for kind, status, code in _ERRORS:
        if isinstance(exc, kind):
            return _error(status, code, str(exc))
    if isinstance(exc, KernelError):
        return _error(500, "INTERNAL_ERROR", str(exc))
    logger.exception("/invocations failed")
    return _error(500, "INTERNAL_ERROR", "internal server error (see the server log)")


def _mime_type(header: str) -> tuple[str, Response | None]:
    """The body's media type, or MLflow's 415 answer for one it does not take."""
    mime, *options = (part.strip() for part in header.split(";"))
    params = {
        key.strip().lower(): value.strip() for key, _, value in (o.partition("=") for o in options)
    }
    if params.get("charset", "utf-8").lower() != "utf-8":
        return mime, Response(
            "The scoring server only supports UTF-8", 415, media_type="text/plain"
        )
    if set(params) - {"charset"}:
        unknown = ", ".join(sorted(set(params) - {"charset"}))
        return mime, Response(
            f"Unrecognized content type parameters: {unknown}.", 415, media_type="text/plain"
        )
    if mime.lower() not in SUPPORTED:
        return mime, Response(
            f"This predictor only supports the following content types: {list(SUPPORTED)}."
            f" Got {header!r}.",
            415,
            media_type="text/plain",
        )
    return mime.lower(), None


def _is_mlflow(data: DataPlane, name: str) -> bool:
    try:
        return data.model_config(name, None).backend == RUNTIME
    except KernelError:
        return False


async def _bare_target(data: DataPlane, control: ControlPlane) -> str:
    """The model the bare ``/invocations`` serves; ``BadRequest`` / ``ModelNotFound`` explain
    why there is none."""
    ready = {entry.name for entry in await control.repository_index(ready_only=True)}
    names = sorted(name for name in ready if _is_mlflow(data, name))
    marked = sorted(
        {r.name for r in loaded_runtimes() if r.answers_bare_invocations() and r.name in names}
    )
    if len(marked) == 1:
        return marked[0]
    if len(marked) > 1:
        raise BadRequest(
            f"several MLflow models set parameters.extra.default_invocations ({', '.join(marked)});"
            " set it on one, or POST /v2/models/{name}/invocations"
        )
    if len(names) == 1:
        return names[0]
    if not names:
        raise ModelNotFound("no MLflow model is loaded and ready")
    raise BadRequest(
        f"/invocations serves one MLflow model, and {len(names)} are loaded"
        f" ({', '.join(names)}): set parameters.extra.default_invocations on one, or"
        " POST /v2/models/{name}/invocations"
    )


async def _invoke(
    request: Request, data: DataPlane, name: str | None, version: str | None, control: ControlPlane
) -> Response:
    mime, refused = _mime_type(request.headers.get("content-type", "application/json"))
    if refused is not None:
        return refused
    try:
        if name is None:
            name = await _bare_target(data, control)
        elif not _is_mlflow(data, name):
            data.model_config(name, version)  # 404 / 503 for a missing or loading model
            raise ModelNotFound(f"model {name!r} is not an MLflow model")
        body = await request.body()
        response = await data.infer(name, version, forward_request(body, mime))
        outputs = [o for o in response.outputs if o.name == INVOCATIONS]
        if len(outputs) != 1:
            raise KernelError(f"model {name!r} did not answer the invocation")
        payload = outputs[0].data.reshape(-1)[0]
    except Exception as exc:
        return _from_exception(exc)
    return Response(bytes(payload), 200, media_type="application/json")


def register_scoring_routes(
    register: RegisterRoute, data: DataPlane, control: ControlPlane
) -> None:
    """Register MLflow's scoring routes on ``register`` (the ``kernel_register_routes`` hook)."""

    async def bare(request: Request) -> Response:
        return await _invoke(request, data, None, None, control)

    async def per_model(request: Request) -> Response:
        params = request.path_params
        return await _invoke(request, data, params["model"], params.get("version"), control)

    async def ping(request: Request) -> Response:
        return Response("\n", 200 if data.ready() else 503, media_type="application/json")

    async def version(request: Request) -> Response:
        return Response(importlib.metadata.version("mlflow"), media_type="application/json")

    register("/invocations", bare, methods=["POST"])
    register("/v2/models/{model}/invocations", per_model, methods=["POST"])
    register("/v2/models/{model}/versions/{version}/invocations", per_model, methods=["POST"])
    register("/ping", ping)
    register("/health", ping)
    register("/version", version)
