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

Each share has a row of the pool table to count its calls in flight; a server process that
dies gives its shares back (and its rows are cleared, its segments deleted).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from pathlib import Path

from kernel.errors import KernelError, ModelLoadError
from kernel.model_settings import ModelSettings
from kernel.workers.broker import Grant
from kernel.workers.pool import WorkerPool
from kernel.workers.runtime import replicas_of, worker_python

__all__ = ["PoolKeeper"]

logger = logging.getLogger("kernel.supervisor")

#: (model name, version) of a pool.
Key = tuple[str, str | None]


@dataclass(eq=False)
class _Generation:
    number: int
    key: Key
    started: asyncio.Future[WorkerPool]
    #: Row of the pool table -> the server-process slot holding that share.
    holders: dict[int, int] = field(default_factory=dict)
    current: bool = False
    stopped: bool = False

    def pool(self) -> WorkerPool | None:
        """The running pool, or ``None`` while it starts or when it failed to."""
        if not self.started.done() or self.started.cancelled():
            return None
        return None if self.started.exception() is not None else self.started.result()


def _label(key: Key) -> str:
    return f"model {key[0]!r}" + (f" version {key[1]!r}" if key[1] else "")


class PoolKeeper:
    """The pools of one server; ``rows`` shares at most per pool at a time."""

    def __init__(self, rows: int) -> None:
        self.rows = rows
        self._count = 0
        self._generations: dict[int, _Generation] = {}
        self._current: dict[Key, _Generation] = {}
        #: Generations started during the running repository load of each model name.
        self._fresh: dict[str, dict[Key, _Generation]] = {}

    # --- shares --------------------------------------------------------------------------------

    async def acquire(self, slot: int, settings: ModelSettings) -> Grant:
        """A share for server-process ``slot``; raises ``ModelLoadError`` when the pool cannot
        start (every process that asked for the same generation gets the same reason)."""
        key: Key = (settings.name, settings.version)
        fresh = self._fresh.get(settings.name)
        if fresh is not None:
            generation = fresh.get(key)
            if generation is None:
                generation = fresh[key] = self._start(key, settings)
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

    async def end_load(self, name: str) -> None:
        """The load is over in every process: fresh generations that started become current;
        the ones they replace (and any the new settings no longer use) stop once unused."""
        fresh = self._fresh.pop(name, {})
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

    def _start(self, key: Key, settings: ModelSettings) -> _Generation:
        self._count += 1
        started = asyncio.ensure_future(asyncio.to_thread(self._run, key, settings))
        generation = _Generation(self._count, key, started)
        self._generations[generation.number] = generation
        # A generation nobody waits for any more must not log "exception never retrieved".
        started.add_done_callback(lambda f: f.cancelled() or f.exception())
        return generation

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
        if pool is not None:
            logger.info(
                "%s: stopping its worker pool (generation %d)", pool.label, generation.number
            )
            await asyncio.to_thread(pool.close)

    def folders(self) -> list[Path]:
        """The folders of the running pools."""
        return [p.folder for g in self._generations.values() if (p := g.pool()) is not None]
