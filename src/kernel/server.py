"""``serve``: one event loop running the kernel, the REST server (hypercorn, or uvicorn with
the ``http_server`` setting; see ``kernel.http_servers``) and the gRPC server (grpclib) until
SIGTERM or SIGINT.

Start-up order: the kernel starts (plugins, runtimes, models begin loading), then both
transports listen, so ``/v2/health/live`` answers while models load and ``/v2/health/ready``
turns 200 when they are loaded. Shut-down: stop listening, let requests in flight finish
(bounded by ``graceful_timeout``), unload every model, exit 0.

Listening sockets are created here, not by the HTTP server, so that a port in use is a clear error
before anything serves, and so that the supervisor (``--workers`` above 1, see
``kernel.supervisor``) can hand the same sockets to several server processes. ``TCP_NODELAY``
is set on them; asyncio also sets it on every accepted connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import time
from typing import TYPE_CHECKING, Any

from kernel import affinity
from kernel.errors import SettingsError
from kernel.settings import ServerSettings

if TYPE_CHECKING:  # the supervisor imports ``listen`` only: keep it light
    from kernel.api import ControlPlane, DataPlane
    from kernel.lifecycle import Kernel

__all__ = ["import_transports", "listen", "run_server", "serve"]

logger = logging.getLogger("kernel.server")


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket with ``TCP_NODELAY``; ``SettingsError`` when it cannot bind."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise SettingsError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.setblocking(False)
    return sock


async def _serve_http(
    data: DataPlane,
    control: ControlPlane,
    settings: ServerSettings,
    sock: socket.socket,
    stop: asyncio.Event,
) -> None:
    from kernel.http_servers import serve_http
    from kernel.rest.app import build_app

    await serve_http(build_app(data, control, settings), sock, settings, stop)


def import_transports(settings: ServerSettings) -> None:
    """Import the transports before models start loading: their imports take a good part of
    a second, which would otherwise stall the loop mid-load and inflate the logged times."""
    if settings.http_port:
        from kernel.http_servers import load_http_server

        load_http_server(settings.http_server)
        import kernel.rest.app
    if settings.grpc_port:
        import kernel.grpc.server  # noqa: F401


async def run_server(
    settings: ServerSettings,
    kernel: Kernel,
    http_sock: socket.socket | None,
    grpc_sock: socket.socket | None,
    stop: asyncio.Event,
    planes: tuple[DataPlane, ControlPlane] | None = None,
) -> None:
    """Serve ``kernel`` on the given listening sockets until ``stop`` is set, then drain and
    stop it. ``planes`` replaces the kernel as the transports' data and control planes (the
    multi-process server's coordinating planes); the sockets are closed on return."""
    data, control = planes if planes is not None else (kernel, kernel)
    started = time.perf_counter()
    grpc_server = None
    http_task: asyncio.Task[None] | None = None
    try:
        await kernel.start()
        if grpc_sock is not None:
            from kernel.grpc.server import build_server

            grpc_server = build_server(data, control, settings)
            grpc_port = grpc_sock.getsockname()[1]
            await grpc_server.start(sock=grpc_sock)
            logger.info("gRPC on %s:%d", settings.host, grpc_port)
        if http_sock is not None:
            # The bound port, not the setting: they differ when the socket was bound to port 0.
            http_port = http_sock.getsockname()[1]
            http_task = asyncio.create_task(_serve_http(data, control, settings, http_sock, stop))
            logger.info("REST on http://%s:%d (%s)", settings.host, http_port, settings.http_server)
        await kernel.wait_loaded()
        logger.info(
            "models loaded in %.2f s; ready: %s", time.perf_counter() - started, kernel.ready()
        )
        waiters: list[asyncio.Future[Any]] = [asyncio.ensure_future(stop.wait())]
        if http_task is not None:
            waiters.append(http_task)  # a REST server that dies ends the process
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        logger.info("shutting down: finishing requests in flight")
    finally:
        stop.set()
        # New requests on open connections get 503 from here on; those in flight finish.
        await kernel.drain(settings.graceful_timeout)
        if http_task is not None:
            await http_task
        if grpc_server is not None:
            grpc_server.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(grpc_server.wait_closed(), settings.graceful_timeout)
        await kernel.stop()
        for sock in (http_sock, grpc_sock):
            if sock is not None:
                sock.close()  # no-op once a server took it over


async def _serve(settings: ServerSettings) -> None:
    import_transports(settings)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        http_sock = listen(settings.host, settings.http_port) if settings.http_port else None
        grpc_sock = listen(settings.host, settings.grpc_port) if settings.grpc_port else None
        from kernel.lifecycle import Kernel

        await run_server(settings, Kernel(settings, freeze_heap=True), http_sock, grpc_sock, stop)
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)


def serve(settings: ServerSettings) -> int:
    """Serve until SIGTERM/SIGINT, then stop gracefully; the exit code. Raises
    ``SettingsError`` for a port that cannot be bound or a missing models folder.

    With ``settings.workers`` above 1 a supervisor (``kernel.supervisor``) owns the sockets
    and runs that many server processes; with 1 this process serves alone, as before.
    """
    if settings.http_port:
        from kernel.http_servers import check_installed

        check_installed(settings.http_server)  # before any process starts or port is bound
    if settings.workers > 1:
        from kernel.supervisor import supervise

        return supervise(settings)
    core = affinity.plan(settings.cpu_affinity, 1, affinity.allowed_cores())[0]
    if core is not None:
        affinity.pin(core)  # before the event loop and the runtime threads start
    asyncio.run(_serve(settings))
    return 0
