"""The supervisor: owns the listening sockets and the server processes, and coordinates them.

It creates the REST and gRPC listening sockets once and starts ``settings.workers`` server
processes (``kernel.supervisor.child``) that inherit them, so the kernel accepts connections
in every process with no hop between processes per request. Each process has a control
channel (a unix socket pair) to the supervisor, over which:

- a repository load/unload taken by any process is applied by every process, one operation
  at a time in the same order everywhere, and answered when all are done (the first error
  any process reports is the caller's error);
- each process reports its own readiness; the supervisor tells every process whether *all*
  are ready, which is what ``/v2/health/ready`` and ``ServerReady`` answer;
- ``/metrics`` gathers a snapshot from every live process and merges them
  (``kernel.metrics.merge_snapshots``);
- models that run in worker pools, and models that keep state, get one pool for the whole
  server, which the supervisor runs and every process connects to; a reload of a model that
  keeps state stops the old pool before it starts the new one (``kernel.supervisor.pools``).

A process that dies is started again at once (with back-off when it keeps dying at start-up);
it loads the model set the server holds now, including loads and unloads made through the API,
and once the server has been ready it takes connections only after those models are loaded,
so its siblings answer meanwhile. SIGTERM/SIGINT are forwarded to every process, which drain
their requests (``graceful_timeout``); the supervisor exits 0 when they are gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import msgspec

from kernel import affinity
from kernel.errors import SettingsError
from kernel.metrics import MetricsSnapshot, merge_snapshots
from kernel.repository import scan
from kernel.server import listen
from kernel.settings import ServerSettings
from kernel.supervisor.channel import Channel, ChannelClosed
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
    result_of,
)
from kernel.supervisor.pools import HANDOVER_MARGIN, PoolKeeper, key_of

__all__ = ["Supervisor", "supervise"]

logger = logging.getLogger("kernel.supervisor")

#: A process that ran at least this long before dying is restarted at once.
STABLE_AFTER: Final = 10.0
#: Longest wait before restarting a process that keeps dying at start-up.
MAX_BACKOFF: Final = 5.0
#: Extra seconds past ``graceful_timeout`` before a process that will not stop is killed.
KILL_MARGIN: Final = 10.0


@dataclass(eq=False)
class _Process:
    """One server-process slot and the process running in it now."""

    worker: int
    process: asyncio.subprocess.Process | None = None
    channel: Channel | None = None
    #: Said hello: takes part in fan-outs and metrics.
    joined: bool = False
    ready: bool = False
    tasks: set[asyncio.Task[None]] = field(default_factory=set)


class Supervisor:
    """Runs and coordinates the server processes; see the module docstring."""

    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings
        self._slots = [_Process(i) for i in range(settings.workers)]
        #: The core each slot's process is pinned to (None: not pinned), kept across restarts.
        self._cores = affinity.plan(
            settings.cpu_affinity, settings.workers, affinity.allowed_cores()
        )
        self._sockets: list[socket.socket] = []
        self._fds: dict[str, int] = {}
        self._models: set[str] = set()
        self._control = asyncio.Lock()
        self._stopping = asyncio.Event()
        self._server_ready = False
        self._was_ready = False
        # A share per process, and room for the few moments a restarted process overlaps.
        self.pools = PoolKeeper(
            rows=4 * settings.workers + 4,
            handover_timeout=settings.graceful_timeout + HANDOVER_MARGIN,
        )
        self.exit_code = 0

    # --- start and stop ------------------------------------------------------------------------

    async def run(self) -> int:
        """Serve until SIGTERM/SIGINT (or a process cannot start); the exit code."""
        root = Path(self.settings.model_repository_root)
        if not await asyncio.to_thread(root.is_dir):
            raise SettingsError(f"models folder {str(root)!r} does not exist")
        # The model set every process loads; it follows repository loads and unloads.
        self._models = {source.name for source in await asyncio.to_thread(scan, root)}
        for name, port in (("http", self.settings.http_port), ("grpc", self.settings.grpc_port)):
            if port:
                sock = listen(self.settings.host, port)
                self._sockets.append(sock)
                self._fds[name] = sock.fileno()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self._stopping.set)
        logger.info(
            "supervisor pid %d: %d server processes, REST port %d, gRPC port %d",
            os.getpid(),
            len(self._slots),
            self.settings.http_port,
            self.settings.grpc_port,
        )
        if any(core is not None for core in self._cores):
            logger.info(
                "server processes pinned to cores %s (cpu_affinity %s)",
                ", ".join(str(core) for core in self._cores),
                self.settings.cpu_affinity,
            )
        try:
            keepers = [asyncio.create_task(self._keep(slot)) for slot in self._slots]
            await self._stopping.wait()
            logger.info("stopping: server processes finish their requests in flight")
            for slot in self._slots:
                self._signal(slot, signal.SIGTERM)
            await asyncio.gather(*keepers)
        finally:
            await self.pools.close()
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(signum)
            for sock in self._sockets:
                sock.close()
        logger.info("supervisor stopped")
        return self.exit_code

    def _signal(self, slot: _Process, signum: int) -> None:
        if slot.process is not None and slot.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                slot.process.send_signal(signum)

    async def _keep(self, slot: _Process) -> None:
        """Keep one server process running until the supervisor stops."""
        backoff = 0.0
        while not self._stopping.is_set():
            began = time.monotonic()
            code = await self._run_once(slot)
            if self._stopping.is_set():
                break
            if code == EXIT_CONFIG:
                logger.error("worker %d cannot start (see its error above); stopping", slot.worker)
                self.exit_code = EXIT_CONFIG
                self._stopping.set()
                break
            stable = time.monotonic() - began >= STABLE_AFTER
            backoff = 0.0 if stable else min(MAX_BACKOFF, max(0.25, backoff * 2))
            logger.warning(
                "worker %d exited with %s; starting a new one%s",
                slot.worker,
                code,
                f" in {backoff:.2f} s" if backoff else "",
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), backoff)

    async def _run_once(self, slot: _Process) -> int:
        """Start one process in ``slot``, serve its control channel, wait for it to exit."""
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        args = [
            sys.executable,
            "-m",
            "kernel.supervisor.child",
            "--worker",
            str(slot.worker),
            "--settings",
            msgspec.json.encode(self.settings).decode(),
            "--control-fd",
            str(theirs.fileno()),
        ]
        for name, fd in self._fds.items():
            args += [f"--{name}-fd", str(fd)]
        core = self._cores[slot.worker]
        if core is not None:
            args += ["--cpu", str(core)]
        try:
            process = await asyncio.create_subprocess_exec(
                *args, pass_fds=(*self._fds.values(), theirs.fileno())
            )
        finally:
            theirs.close()
        slot.process = process
        pid = process.pid
        reader, writer = await asyncio.open_unix_connection(sock=mine)

        async def handle(body: Body) -> Body | None:
            return await self._handle(slot, body)

        channel = slot.channel = Channel(reader, writer, handle)
        reading = asyncio.create_task(channel.run())
        if self._stopping.is_set():  # stopped while it was starting
            self._signal(slot, signal.SIGTERM)
        try:
            waiting = asyncio.ensure_future(process.wait())
            while True:
                done, _ = await asyncio.wait([waiting], timeout=1.0)
                if done:
                    break
                if self._stopping.is_set():
                    await self._reap(slot, waiting)
                    break
            return await waiting
        finally:
            slot.joined = False
            slot.ready = False
            channel.close()
            await reading
            slot.channel = None
            slot.process = None
            self._update_readiness()
            await self.pools.slot_gone(slot.worker, pid)

    async def _reap(self, slot: _Process, waiting: asyncio.Future[int]) -> None:
        """The process was told to stop: give it the grace period, then kill it."""
        grace = self.settings.graceful_timeout + KILL_MARGIN
        try:
            await asyncio.wait_for(asyncio.shield(waiting), grace)
        except TimeoutError:
            logger.error("worker %d did not stop in %.0f s; killing it", slot.worker, grace)
            self._signal(slot, signal.SIGKILL)
            await waiting

    # --- control channel ----------------------------------------------------------------------

    async def _handle(self, slot: _Process, body: Body) -> Body | None:
        if isinstance(body, Status):
            slot.ready = body.ready
            self._update_readiness()
            return None
        if isinstance(body, Hello):
            async with self._control:  # so no load/unload is half-applied to it
                slot.joined = True
                logger.info("worker %d is pid %d", slot.worker, body.pid)
                return Welcome(sorted(self._models), wait_loaded=self._was_ready)
        if isinstance(body, Load | Unload):
            return await self._fan_out(body)
        if isinstance(body, GatherMetrics):
            return MetricsText(await self._gather_metrics())
        if isinstance(body, AcquirePool):
            try:
                return PoolGrant(await self.pools.acquire(slot.worker, body.settings))
            except Exception as exc:
                return result_of(exc)
        if isinstance(body, ReleasePool):
            await self.pools.release(body.generation, body.row)
            return Result()
        if isinstance(body, HandOver):
            await self.pools.hand_over(key_of(body.name, body.version))
            return Result()
        return Result(error=f"unexpected {type(body).__name__}")

    def _joined(self) -> list[tuple[_Process, Channel]]:
        return [(s, s.channel) for s in self._slots if s.joined and s.channel is not None]

    async def _fan_out(self, body: Load | Unload) -> Result:
        """Apply a load/unload in every process, one operation at a time; the first error."""
        command: Body = ApplyLoad(body.name) if isinstance(body, Load) else ApplyUnload(body.name)
        async with self._control:
            targets = self._joined()
            if isinstance(body, Load):
                self.pools.begin_load(body.name)  # a reload starts the model's pools afresh
            try:
                answers = await asyncio.gather(
                    *(channel.request(command) for _, channel in targets), return_exceptions=True
                )
            finally:
                if isinstance(body, Load):
                    await self.pools.end_load(body.name)
                else:
                    await self.pools.unloaded(body.name)
            results = [a for a in answers if isinstance(a, Result)]
            for answer in answers:
                if isinstance(answer, BaseException) and not isinstance(answer, ChannelClosed):
                    results.append(Result(error=f"{type(answer).__name__}: {answer}"))
            failed = next((r for r in results if r.error is not None), None)
            if failed is None or failed.kind != "ModelNotFound":
                # A failed load still leaves the model (UNAVAILABLE) in every process.
                if isinstance(body, Load):
                    self._models.add(body.name)
                else:
                    self._models.discard(body.name)
            return failed or Result()

    async def _gather_metrics(self) -> bytes:
        answers = await asyncio.gather(
            *(channel.request(Snapshot()) for _, channel in self._joined()),
            return_exceptions=True,
        )
        snapshots: list[MetricsSnapshot] = [
            a.snapshot for a in answers if isinstance(a, SnapshotReply)
        ]
        return merge_snapshots(snapshots)

    def _update_readiness(self) -> None:
        """Tell every process when the server as a whole turns ready or not ready."""
        ready = not self._stopping.is_set() and all(s.joined and s.ready for s in self._slots)
        if ready != self._server_ready:
            self._server_ready = ready
            self._was_ready = self._was_ready or ready
            logger.info("server %s", "ready" if ready else "not ready")
        for _, channel in self._joined():
            # Sent to all each time: cheap, and a process that just joined learns it too.
            with contextlib.suppress(ConnectionError):
                channel.notify(ServerReady(ready))


def supervise(settings: ServerSettings) -> int:
    """Run the supervisor and ``settings.workers`` server processes; the exit code."""
    return asyncio.run(Supervisor(settings).run())
