"""The server's worker pools, owned by the supervisor (``kernel serve --workers N``).

A model with ``parallel_workers`` (or ``environment_path``) gets one pool for the whole server,
not one per server process: ``parallel_workers`` processes in total, whatever N is. Server
processes ask for a share of it (``AcquirePool``) when they load the model and give it back
(``ReleasePool``) when they unload it; the supervisor runs the pool itself (``WorkerPool`` with
``shared=True``: it starts the workers, replaces any that dies, publishes them in the pool
table) and each server process connects to the workers directly (``kernel.workers.shared``), so
no request passes through the supervisor.

Pools are kept per model version, in *generations*:

- Outside a repository load (start-up, a restarted server process) a process gets the
  version's current generation, started by whichever process asked first.
- During a repository load of the model (the supervisor applies it in every process), the
  first process to ask starts a fresh generation and the others share it: a reload restarts
  the workers once, with the new settings. When the load is over, the fresh generation becomes
  current if it started (if not, the old one stays current: the processes keep serving the old
  version, as a failed reload leaves it).
- A generation stops once it is no longer current and no process holds a share: after a reload,
  when the last process has retired the old version; after an unload, at once.
- A reload of a model that keeps state is *handed over* (``hand_over``, said by every process
  before it retires its copy): the current generation stops being current at once, stops when
  the last process has given its share back (its worker unloads and saves the state), and the
  load's fresh generation starts only then (its worker restores that state), so the new copy
  continues from the old copy's final state and no save of the old copy lands after the new
  one's. A process that never gives its share back cannot hold the reload up for long: past
  ``handover_timeout`` the old pool stops anyway (logged). If the fresh generation fails, a
  process that loads the previous settings again (``kernel._swap``) gets a generation of its
  own for them, started from the state just saved.

Each share has a row of the pool table to count its calls in flight; a server process that
dies gives its shares back (and its rows are cleared, its segments deleted).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from kernel.errors import KernelError, ModelLoadError
from kernel.model_settings import ModelSettings
from kernel.workers.broker import Grant
from kernel.workers.pool import WorkerPool
from kernel.workers.runtime import replicas_of, worker_python

__all__ = ["HANDOVER_MARGIN", "PoolKeeper", "key_of"]

logger = logging.getLogger("kernel.supervisor")

#: (model name, version) of a pool.
Key = tuple[str, str | None]


#: Seconds past the server's ``graceful_timeout`` a hand-over waits for the shares of the old pool
#: (each process drains its requests for at most ``graceful_timeout``, then gives its share back).
HANDOVER_MARGIN: Final = 10.0


@dataclass(eq=False)
class _Generation:
    number: int
    key: Key
    settings: ModelSettings
    started: asyncio.Future[WorkerPool]
    #: Row of the pool table -> the server-process slot holding that share.
    holders: dict[int, int] = field(default_factory=dict)
    current: bool = False
    stopped: bool = False
    #: Set once the generation has stopped: its workers have unloaded and exited.
    closed: asyncio.Event = field(default_factory=asyncio.Event)

    def failed(self) -> bool:
        """Whether it failed to start."""
        return self.started.done() and (
            self.started.cancelled() or self.started.exception() is not None
        )

    def pool(self) -> WorkerPool | None:
        """The running pool, or ``None`` while it starts or when it failed to."""
        if not self.started.done() or self.started.cancelled():
            return None
        return None if self.started.exception() is not None else self.started.result()


def _label(key: Key) -> str:
    return f"model {key[0]!r}" + (f" version {key[1]!r}" if key[1] else "")


def key_of(name: str, version: str | None) -> Key:
    """The key of a model version's pools (no version and the empty version are one)."""
    return name, version or None


class PoolKeeper:
    """The pools of one server; ``rows`` shares at most per pool at a time. A hand-over waits
    ``handover_timeout`` seconds at most for the old pool's shares (``HANDOVER_MARGIN`` past
    the server's ``graceful_timeout``, for the supervisor)."""

    def __init__(self, rows: int, handover_timeout: float) -> None:
        self.rows = rows
        self.handover_timeout = handover_timeout
        self._count = 0
        self._generations: dict[int, _Generation] = {}
        self._current: dict[Key, _Generation] = {}
        #: Generations started during the running repository load of each model name.
        self._fresh: dict[str, dict[Key, _Generation]] = {}
        #: Versions the running load of each model name hands over, with the generation each
        #: one's fresh generation waits for (``None``: there was none).
        self._handing: dict[str, dict[Key, _Generation | None]] = {}

    # --- shares --------------------------------------------------------------------------------

    async def acquire(self, slot: int, settings: ModelSettings) -> Grant:
        """A share for server-process ``slot``; raises ``ModelLoadError`` when the pool cannot
        start (every process that asked for the same generation gets the same reason)."""
        key = key_of(settings.name, settings.version)
        fresh = self._fresh.get(settings.name)
        if fresh is not None:
            generation = fresh.get(key)
            handing = self._handing.get(settings.name, {})
            if (
                generation is not None
                and key in handing
                and generation.failed()
                and generation.settings != settings
            ):
                # A handed-over copy whose successor failed loads its previous settings again:
                # a generation of their own (the failed one's processes have its reason).
                self._generations.pop(generation.number, None)
                generation = None
            if generation is None:
                generation = fresh[key] = self._start(key, settings, handing.get(key))
        else:
            generation = self._current.get(key)
            if generation is None:
                generation = self._current[key] = self._start(key, settings)
                generation.current = True
        pool = await asyncio.shield(generation.started)
        if generation.stopped:  # unloaded while this process waited
            raise ModelLoadError(f"{_label(key)} was unloaded while it loaded")
        free = [r for r in range(self.rows) if r not in generation.holders]
        if not free:
            raise KernelError(f"{_label(key)}: more than {self.rows} shares of its worker pool")
        row = free[0]
        assert pool.table is not None
        pool.table.clear_row(row)
        generation.holders[row] = slot
        assert pool.loaded is not None
        return Grant(generation.number, str(pool.folder), row, pool.loaded)

    async def release(self, generation: int, row: int) -> None:
        """Give a share back; stops the pool if that was the last one of a past generation."""
        found = self._generations.get(generation)
        if found is None:
            return
        self._forget_row(found, row)
        await self._stop_if_unused(found)

    async def slot_gone(self, slot: int, pid: int) -> None:
        """Server process ``pid`` in ``slot`` has exited: its shares are given back."""
        for generation in list(self._generations.values()):
            pool = generation.pool()
            rows = [r for r, s in generation.holders.items() if s == slot]
            for row in rows:
                self._forget_row(generation, row)
            if pool is not None and pid:
                for stale in pool.folder.glob(f"c{pid}-*"):  # its input segments
                    stale.unlink(missing_ok=True)
            if rows:
                await self._stop_if_unused(generation)

    def _forget_row(self, generation: _Generation, row: int) -> None:
        if generation.holders.pop(row, None) is None:
            return
        pool = generation.pool()
        if pool is not None and pool.table is not None:
            pool.table.clear_row(row)  # calls it counted in flight are over

    # --- repository operations, applied by every process -----------------------------------------

    def begin_load(self, name: str) -> None:
        """A repository load of ``name`` starts: shares asked for from now on are of a fresh
        generation."""
        self._fresh[name] = {}
        self._handing[name] = {}

    async def hand_over(self, key: Key) -> None:
        """The running load of ``key``'s model hands its state over (see the module docstring):
        the current generation is no longer current and stops once unused; the fresh one starts
        after that. Outside a load, or said already, nothing changes."""
        handing = self._handing.get(key[0])
        if handing is None or key in handing:
            return
        old = handing[key] = self._current.pop(key, None)
        if old is not None:
            old.current = False
            await self._stop_if_unused(old)

    async def end_load(self, name: str) -> None:
        """The load is over in every process: fresh generations that started become current;
        the ones they replace (and any the new settings no longer use) stop once unused."""
        fresh = self._fresh.pop(name, {})
        # A handed-over generation is no longer current: it stops when its last share goes.
        self._handing.pop(name, None)
        for key, old in [(k, g) for k, g in self._current.items() if k[0] == name]:
            new = fresh.get(key)
            if new is not None and new.pool() is None:
                continue  # the reload failed: the processes still serve the old version
            del self._current[key]
            old.current = False
            await self._stop_if_unused(old)
        for key, new in fresh.items():
            if new.pool() is not None:
                self._current[key] = new
                new.current = True
            else:
                self._generations.pop(new.number, None)

    async def unloaded(self, name: str) -> None:
        """``name`` was unloaded from every process: its pools stop once unused (at once,
        normally: each process gave its share back while it unloaded)."""
        for key, generation in [(k, g) for k, g in self._current.items() if k[0] == name]:
            del self._current[key]
            generation.current = False
            await self._stop_if_unused(generation)

    async def close(self) -> None:
        """Stop every pool (the server is stopping and its processes are gone)."""
        for generation in list(self._generations.values()):
            generation.current = False
            generation.holders.clear()
            with contextlib.suppress(Exception):
                await asyncio.shield(generation.started)
            await self._stop_if_unused(generation)

    # --- pools ---------------------------------------------------------------------------------

    def _start(
        self, key: Key, settings: ModelSettings, after: _Generation | None = None
    ) -> _Generation:
        """A new generation, started once ``after`` (the one a hand-over replaces) has stopped."""
        self._count += 1
        started = asyncio.ensure_future(self._run_after(after, key, settings))
        generation = _Generation(self._count, key, settings, started)
        self._generations[generation.number] = generation
        # A generation nobody waits for any more must not log "exception never retrieved".
        started.add_done_callback(lambda f: f.cancelled() or f.exception())
        return generation

    async def _run_after(
        self, after: _Generation | None, key: Key, settings: ModelSettings
    ) -> WorkerPool:
        if after is not None:
            await self._until_stopped(after)
        return await asyncio.to_thread(self._run, key, settings)

    async def _until_stopped(self, old: _Generation) -> None:
        """Until ``old``, handed over, has stopped: once every process has given its share
        back, or past ``handover_timeout`` regardless (a process that keeps its share is
        stuck, and the reload must not wait for it forever)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(old.closed.wait(), self.handover_timeout)
            return
        if not old.stopped:
            slots = sorted(set(old.holders.values()))
            if slots:
                logger.error(
                    "%s: server process(es) %s did not give back their share of the old worker"
                    " pool in %.0f s; stopping it anyway to hand the state over",
                    _label(old.key),
                    ", ".join(map(str, slots)),
                    self.handover_timeout,
                )
            for row in list(old.holders):
                self._forget_row(old, row)
            with contextlib.suppress(Exception):
                await asyncio.shield(old.started)
            await self._stop_if_unused(old)
        await old.closed.wait()

    def _run(self, key: Key, settings: ModelSettings) -> WorkerPool:
        """Start the pool; blocks (in a thread)."""
        pool = WorkerPool(
            settings,
            replicas_of(settings),
            worker_python(settings),
            _label(key),
            shared=True,
            clients=self.rows,
        )
        pool.start()
        return pool

    async def _stop_if_unused(self, generation: _Generation) -> None:
        if generation.current or generation.holders or generation.stopped:
            return
        pool = generation.pool()
        if pool is None and not generation.started.done():
            return  # still starting: stopped when it has started and is released
        generation.stopped = True
        self._generations.pop(generation.number, None)
        try:
            if pool is not None:
                logger.info(
                    "%s: stopping its worker pool (generation %d)", pool.label, generation.number
                )
                await asyncio.to_thread(pool.close)
        finally:
            generation.closed.set()

    def folders(self) -> list[Path]:
        """The folders of the running pools."""
        return [p.folder for g in self._generations.values() if (p := g.pool()) is not None]
