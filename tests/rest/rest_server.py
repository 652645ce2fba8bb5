"""Serve an ASGI app with hypercorn on a free loopback port, in a background thread."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager, contextmanager

import httpx
from hypercorn.asyncio import serve
from hypercorn.config import Config
from starlette.applications import Starlette


@contextmanager
def running(
    app: Starlette, lifespan: AbstractAsyncContextManager[object] | None = None
) -> Iterator[str]:
    """Yield the base URL (``http://127.0.0.1:PORT``) while hypercorn serves ``app``.

    ``lifespan`` (a ``Kernel``) is entered in the server's event loop before serving and left
    after hypercorn stops, as the real server does.

    The listening socket is bound here (port 0) and handed to hypercorn as ``fd://``, so there
    is no window where another process could take the port. The server is always stopped.
    """
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    port = listener.getsockname()[1]
    config = Config()
    config.bind = [f"fd://{os.dup(listener.fileno())}"]
    config.graceful_timeout = 1.0
    listener.close()

    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    errors: list[BaseException] = []

    async def main() -> None:
        if lifespan is None:
            await serve(app, config, shutdown_trigger=stop.wait)  # type: ignore[arg-type]
            return
        async with lifespan:
            await serve(app, config, shutdown_trigger=stop.wait)  # type: ignore[arg-type]

    def run() -> None:
        try:
            loop.run_until_complete(main())
        except BaseException as exc:  # reported to the test below
            errors.append(exc)
        finally:
            loop.close()

    thread = threading.Thread(target=run, name=f"hypercorn-{port}", daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_serving(base, thread, errors)
        yield base
    finally:
        if thread.is_alive():
            loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=10)
        assert not thread.is_alive(), "hypercorn did not stop"


def _wait_until_serving(base: str, thread: threading.Thread, errors: list[BaseException]) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if not thread.is_alive():
            raise RuntimeError(f"hypercorn exited early: {errors!r}")
        try:
            if httpx.get(base + "/v2/health/live", timeout=1).status_code in (200, 503):
                return
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError("hypercorn did not start within 10 s")
