"""Serve kernel's gRPC transport on a free loopback port, in a background thread."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from kernel.grpc import build_server
from kernel.lifecycle import Kernel
from kernel.settings import ServerSettings


@contextmanager
def serving(kernel: Kernel, settings: ServerSettings) -> Iterator[str]:
    """Yield ``127.0.0.1:PORT`` while the server runs with ``kernel`` started in its loop.

    The socket is bound here (port 0) and handed to grpclib, so no other process can take the
    port in between. Server and kernel are always stopped.
    """
    # proto must say TCP: asyncio and grpclib set TCP_NODELAY on accepted sockets only then, and
    # without it every call stalls ~40 ms on delayed ACKs.
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    loop = asyncio.new_event_loop()
    started = threading.Event()
    stop = asyncio.Event()
    errors: list[BaseException] = []

    async def main() -> None:
        async with kernel:
            server = build_server(kernel, kernel, settings)
            await server.start(sock=listener)
            started.set()
            try:
                await stop.wait()
            finally:
                server.close()
                await server.wait_closed()

    def run() -> None:
        try:
            loop.run_until_complete(main())
        except BaseException as exc:  # reported to the test below
            errors.append(exc)
        finally:
            started.set()
            loop.close()

    thread = threading.Thread(target=run, name=f"grpc-{port}", daemon=True)
    thread.start()
    try:
        assert started.wait(30), "the gRPC server did not start"
        assert not errors, f"the gRPC server failed to start: {errors!r}"
        yield f"127.0.0.1:{port}"
    finally:
        if thread.is_alive():
            loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=10)
        listener.close()
        assert not thread.is_alive(), "the gRPC server did not stop"
        assert not errors, f"the gRPC server failed: {errors!r}"
