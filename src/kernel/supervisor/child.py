"""A server process under the supervisor: the kernel and both transports on inherited sockets.

Run as ``python -m kernel.supervisor.child`` by the supervisor only. The transports talk to a
``ClusterPlanes`` instead of the kernel itself: inference and metadata go straight to this
process's kernel (no IPC per request), while repository loads/unloads, readiness and metrics
are answered for the whole server through the control channel.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
from collections.abc import Sequence
from typing import Final

import msgspec

from kernel import affinity
from kernel.errors import KernelError
from kernel.lifecycle import Kernel
from kernel.model_settings import ModelSettings
from kernel.server import import_transports, run_server
from kernel.settings import ServerSettings
from kernel.supervisor.channel import Channel
from kernel.supervisor.messages import (
    EXIT_CONFIG,
    AcquirePool,
    ApplyLoad,
    ApplyUnload,
    Body,
    GatherMetrics,
    HandOver,
    Hello,
    Load,
    MetricsText,
    PoolGrant,
    ReleasePool,
    Result,
    ServerReady,
    Snapshot,
    SnapshotReply,
    Status,
    Unload,
    Welcome,
    error_of,
    result_of,
)
from kernel.workers.broker import Grant, install_broker
from protocol.messages import (
    InferenceRequest,
    InferenceResponse,
    ModelConfig,
    ModelMetadataResponse,
    RepositoryIndexEntry,
    ServerMetadataResponse,
)

__all__ = ["ChannelBroker", "ClusterPlanes", "main"]

logger = logging.getLogger("kernel.supervisor")

#: Seconds between looks at this process's own readiness (reported to the supervisor on change).
READY_POLL: Final = 0.05


class ClusterPlanes:
    """``DataPlane`` and ``ControlPlane`` of one process, answering for the whole server."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self.channel: Channel | None = None
        #: Whether every process of the server is ready, as the supervisor last said.
        self.server_ready = False
        self._started = asyncio.Event()

    def _channel(self) -> Channel:
        if self.channel is None:  # pragma: no cover - set before the transports start
            raise RuntimeError("no control channel")
        return self.channel

    async def ask(self, body: Body) -> Body:
        """Send ``body`` to the supervisor and wait for its answer."""
        try:
            return await self._channel().request(body)
        except ConnectionError:
            raise KernelError("the server is shutting down (supervisor unreachable)") from None

    # --- data plane: this process ------------------------------------------------------------

    async def infer(
        self, name: str, version: str | None, request: InferenceRequest, *, protocol: str = "rest"
    ) -> InferenceResponse:
        return await self.kernel.infer(name, version, request, protocol=protocol)

    def live(self) -> bool:
        return self.kernel.live()

    def ready(self) -> bool:
        """This process is ready and the supervisor says every other one is too."""
        return self.server_ready and self.kernel.ready()

    def model_ready(self, name: str, version: str | None) -> bool:
        return self.kernel.model_ready(name, version)

    def server_metadata(self) -> ServerMetadataResponse:
        return self.kernel.server_metadata()

    def model_metadata(self, name: str, version: str | None) -> ModelMetadataResponse:
        return self.kernel.model_metadata(name, version)

    def model_config(self, name: str, version: str | None) -> ModelConfig:
        return self.kernel.model_config(name, version)

    async def metrics(self) -> bytes:
        """Every process's metrics, merged by the supervisor."""
        answer = await self.ask(GatherMetrics())
        if not isinstance(answer, MetricsText):
            raise KernelError(f"the supervisor answered {type(answer).__name__} to metrics")
        return answer.text

    # --- control plane: every process ---------------------------------------------------------

    async def repository_index(self, ready_only: bool = False) -> list[RepositoryIndexEntry]:
        # Every process holds the same model set, so this one's index is the server's.
        return await self.kernel.repository_index(ready_only)

    async def load_model(self, name: str) -> None:
        await self._control(Load(name))

    async def unload_model(self, name: str) -> None:
        await self._control(Unload(name))

    async def _control(self, body: Load | Unload) -> None:
        answer = await self.ask(body)
        if not isinstance(answer, Result):
            raise KernelError(f"the supervisor answered {type(answer).__name__}")
        error = error_of(answer)
        if error is not None:
            raise error

    # --- what the supervisor asks of this process ---------------------------------------------

    def started(self) -> None:
        """The kernel has started: loads and unloads may be applied from now on."""
        self._started.set()

    async def handle(self, body: Body) -> Body | None:
        """Answer one request (or notification) from the supervisor."""
        if isinstance(body, ServerReady):
            self.server_ready = body.ready
            return None
        if isinstance(body, Snapshot):
            return SnapshotReply(self.kernel.metrics_snapshot())
        if isinstance(body, ApplyLoad | ApplyUnload):
            await self._started.wait()
            try:
                if isinstance(body, ApplyLoad):
                    await self.kernel.load_model(body.name)
                else:
                    await self.kernel.unload_model(body.name)
            except Exception as exc:
                return result_of(exc)
            return Result()
        return Result(error=f"unexpected {type(body).__name__}", kind="")

    async def report_readiness(self) -> None:
        """Tell the supervisor whenever this process's own readiness changes."""
        last: bool | None = None
        channel = self._channel()
        while not channel.closed:
            now = self.kernel.ready()
            if now != last:
                channel.notify(Status(now))
                last = now
            await asyncio.sleep(READY_POLL)


class ChannelBroker:
    """``kernel.workers.broker.PoolBroker`` over the control channel: the supervisor owns the
    pools. Called from the kernel's executor threads; the channel lives on the event loop."""

    def __init__(self, planes: ClusterPlanes, loop: asyncio.AbstractEventLoop) -> None:
        self._planes = planes
        self._loop = loop

    def _ask(self, body: Body) -> Body:
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:  # it would wait for itself
            raise RuntimeError("the pool broker must not be called on the event loop")
        return asyncio.run_coroutine_threadsafe(self._planes.ask(body), self._loop).result()

    def acquire(self, settings: ModelSettings) -> Grant:
        answer = self._ask(AcquirePool(settings))
        if isinstance(answer, PoolGrant):
            return answer.grant
        error = error_of(answer) if isinstance(answer, Result) else None
        raise error or KernelError(f"the supervisor answered {type(answer).__name__}")

    def release(self, grant: Grant) -> None:
        # The supervisor also takes back the shares of a process that is gone.
        with contextlib.suppress(KernelError):
            self._ask(ReleasePool(grant.generation, grant.row))

    def hand_over(self, name: str, version: str | None) -> None:
        # Unreachable, the supervisor is stopping: the new share's acquire then says so.
        with contextlib.suppress(KernelError):
            self._ask(HandOver(name, version))


async def _run(
    settings: ServerSettings,
    worker: int,
    http_sock: socket.socket | None,
    grpc_sock: socket.socket | None,
    control: socket.socket,
) -> None:
    import_transports(settings)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    kernel = Kernel(settings, freeze_heap=True)
    planes = ClusterPlanes(kernel)
    reader, writer = await asyncio.open_unix_connection(sock=control)
    channel = planes.channel = Channel(reader, writer, planes.handle)
    reading = asyncio.create_task(channel.run())
    # Without the supervisor there is nobody to restart or coordinate us: stop.
    reading.add_done_callback(lambda _: stop.set())
    install_broker(ChannelBroker(planes, loop))
    welcome = await channel.request(Hello(worker, os.getpid()))
    if not isinstance(welcome, Welcome):
        raise KernelError(f"the supervisor answered {type(welcome).__name__} to hello")
    await kernel.start(only=welcome.models)
    planes.started()
    if welcome.wait_loaded:
        await kernel.wait_loaded()
    reporter = asyncio.create_task(planes.report_readiness())
    try:
        await run_server(settings, kernel, http_sock, grpc_sock, stop, (planes, planes))
    finally:
        reporter.cancel()
        channel.close()
        await asyncio.gather(reading, reporter, return_exceptions=True)


def _socket(fd: int) -> socket.socket | None:
    return socket.socket(fileno=fd) if fd >= 0 else None


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of a server process; the supervisor passes the settings and descriptors."""
    parser = argparse.ArgumentParser(prog="kernel-worker")
    parser.add_argument("--worker", type=int, required=True)
    parser.add_argument("--settings", required=True, help="ServerSettings as JSON")
    parser.add_argument("--http-fd", type=int, default=-1)
    parser.add_argument("--grpc-fd", type=int, default=-1)
    parser.add_argument("--control-fd", type=int, required=True)
    parser.add_argument("--cpu", type=int, default=None, help="the core to run on")
    args = parser.parse_args(argv)
    if args.cpu is not None:
        affinity.pin(args.cpu)  # before the event loop and the runtime threads start
    settings = msgspec.json.decode(args.settings, type=ServerSettings)
    logging.basicConfig(
        level=logging.getLevelName(settings.log_level.upper()),
        format=f"%(asctime)s %(levelname)s [worker {args.worker} pid {os.getpid()}]"
        " %(name)s: %(message)s",
    )
    try:
        asyncio.run(
            _run(
                settings,
                args.worker,
                _socket(args.http_fd),
                _socket(args.grpc_fd),
                socket.socket(socket.AF_UNIX, socket.SOCK_STREAM, fileno=args.control_fd),
            )
        )
    except KernelError as exc:
        print(f"kernel: worker {args.worker}: error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
