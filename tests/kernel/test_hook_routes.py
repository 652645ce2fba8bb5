"""``kernel_register_routes``: plugins add HTTP routes to the REST server, served next to the
kernel's with bounded bodies and the kernel's error table; clashes fail loudly."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from kernel import hookimpl
from kernel.errors import BadRequest, PluginLoadError
from kernel.lifecycle import Kernel
from kernel.plugins import load_plugins
from kernel.rest.app import build_app
from kernel.settings import ServerSettings
from kernel.testing import serve_plugins

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class _Plugin:
    """A plugin object holding the given hook functions (hashable, as pluggy needs)."""

    def __init__(self, **hooks: Any) -> None:
        for name, fn in hooks.items():
            setattr(self, name, hookimpl(fn))


def _plugin(**hooks: Any) -> _Plugin:
    return _Plugin(**hooks)


def echo_plugin() -> _Plugin:
    def kernel_register_routes(register: Any, data: Any) -> None:
        async def state(request: Request) -> Response:
            return JSONResponse({"ready": data.ready(), "who": request.path_params["who"]})

        async def echo(request: Request) -> Response:
            body = await request.body()
            if body == b"bad":
                raise BadRequest("the body said bad")
            return PlainTextResponse(body[::-1])

        register("/hello/{who}", state)
        register("/echo", echo, methods=["POST"])

    return _plugin(kernel_register_routes=kernel_register_routes)


async def test_hook_kernel_register_routes_served_with_the_kernel() -> None:
    async with (
        serve_plugins(echo_plugin(), max_request_size=64) as server,
        httpx.AsyncClient(base_url=server.http_url) as client,
    ):
        answer = await client.get("/hello/ada")
        assert (answer.status_code, answer.json()) == (200, {"ready": True, "who": "ada"})
        echoed = await client.post("/echo", content=b"abc")
        assert (echoed.status_code, echoed.text) == (200, "cba")
        # the kernel's error table answers what the endpoint raises
        bad = await client.post("/echo", content=b"bad")
        assert (bad.status_code, bad.json()) == (400, {"error": "the body said bad"})
        # bodies are bounded by max_request_size before the endpoint runs
        big = await client.post("/echo", content=b"x" * 65)
        assert big.status_code == 413
        assert "max_request_size" in big.json()["error"]
        wrong = await client.get("/echo")
        assert wrong.status_code == 405
        assert (await client.get("/v2/health/live")).status_code == 200


def _app_with(*plugins: object, tmp: str) -> Any:
    settings = ServerSettings(model_repository_root=tmp)
    loaded = load_plugins([(f"p{i}", p) for i, p in enumerate(plugins)], autoload=False)
    kernel = Kernel(settings)
    return build_app(kernel, kernel, settings, plugins=loaded)


def test_hook_kernel_register_routes_clash_with_the_kernel(tmp_path: Any) -> None:
    def kernel_register_routes(register: Any) -> None:
        async def live(request: Request) -> Response:
            return PlainTextResponse("mine")

        register("/v2/health/live", live)

    with pytest.raises(
        PluginLoadError,
        match="plugin 'p0' registers GET /v2/health/live, which the kernel already serves",
    ):
        _app_with(_plugin(kernel_register_routes=kernel_register_routes), tmp=str(tmp_path))


def test_hook_kernel_register_routes_clash_between_plugins(tmp_path: Any) -> None:
    def kernel_register_routes(register: Any) -> None:
        async def ping(request: Request) -> Response:
            return PlainTextResponse("pong")

        register("/ping", ping, methods=["GET", "POST"])

    first = _plugin(kernel_register_routes=kernel_register_routes)
    second = _plugin(kernel_register_routes=kernel_register_routes)
    with pytest.raises(PluginLoadError, match="plugin 'p1' registers GET /ping, which plugin 'p0'"):
        _app_with(first, second, tmp=str(tmp_path))


def test_hook_kernel_register_routes_failing_plugin_is_skipped(
    tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(register: Any) -> None:
        register("no-slash", None)

    with caplog.at_level(logging.ERROR, logger="kernel.plugins"):
        app = _app_with(_plugin(kernel_register_routes=broken), echo_plugin(), tmp=str(tmp_path))
    paths = {getattr(route, "path", "") for route in app.routes}
    assert {"/hello/{who}", "/echo"} <= paths
    assert "no-slash" not in paths
    assert "plugin 'p0' failed in kernel_register_routes" in caplog.text
    assert "does not start with '/'" in caplog.text
