"""How new copies of a model replace the ones serving: ``Swapper``, used by ``Kernel``.

A *group* is every version of one model that a start-up or repository load brings; the kernel
holds the model's lock around it. Each new copy loads while the old copy of its version keeps
serving, and is swapped in once READY; the old copy then retires in the background (its
requests in flight finish on it, then it unloads). A copy that fails to load replaces nothing
that is READY.

A model that keeps state across requests (``Runtime.keeps_state``) is *handed over* instead:
its runtime saves the state when a copy unloads and restores it when one loads, so the old copy
must retire (drain, unload, save) before the new one loads; loading first would start the new
copy from an older save, and the old copy's final save would then overwrite what the new one
saves. Between the two, requests get ``ModelNotReady`` (HTTP 503 / gRPC UNAVAILABLE) naming the
reload. If the new copy fails to load, the previous settings load again, from the state just
saved, so that a failed reload still leaves the model serving when it can.

Under ``kernel serve --workers N`` the one copy of such a model runs in the supervisor's pool
and every server process holds a share of it; each process tells the supervisor about the
hand-over (``PoolBroker.hand_over``) and retires its share, and the supervisor stops the old
pool (its worker unloads and saves) once every process has, and starts the new pool only then
(``kernel.supervisor.pools``). A model in its own ``environment_path`` is not handed over: its
runtime cannot be imported here to ask (``hands_over_state``).
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable, Coroutine
from typing import Any

from kernel._loading import hands_over_state, load_version, retire_version
from kernel.codecs.registry import CodecRegistry
from kernel.executor import Executor
from kernel.models import ModelState, ModelVersion, ModelVersions
from kernel.registry import RuntimeRegistry
from kernel.repository import ModelSource
from kernel.runtime import Runtime
from kernel.workers.broker import current_broker

__all__ = ["HANDOVER_REASON", "Swapper", "freeze_heap"]

#: The reason a handed-over version shows while it is LOADING (and 503 answers carry).
HANDOVER_REASON = (
    "reloading: the model keeps state, so its previous copy unloads (saving the state)"
    " before the new copy loads"
)

Spawn = Callable[[Coroutine[Any, Any, object]], None]


def freeze_heap() -> None:
    """Move every object alive now out of the garbage collector's reach.

    After models load, the heap is mostly the frameworks' modules and the models: hundreds of
    thousands of objects that live as long as the process. Left in the oldest generation, every
    full collection (triggered by the requests' own allocations) walks all of them again;
    frozen, collections scan only what requests allocate. Measured with the scikit-learn iris
    model: 3-9 % less server CPU per request (benchmarks/README.md). The young generations
    are collected first, so the loads' fresh garbage is not frozen; a full collection would
    take a large heap's whole walk (tenths of a second) for little more. Whatever garbage is
    frozen all the same is bounded and goes back to the collector at the next unload.
    """
    gc.collect(1)
    gc.freeze()


class Swapper:
    """Loads groups of versions and swaps them in (see the module docstring).

    ``spawn`` runs a background task the kernel waits for at stop (an old copy retiring);
    ``grace`` bounds the wait for a retiring copy's requests in flight; ``freeze`` freezes the
    heap when the last running group has loaded (``freeze_heap``).
    """

    def __init__(
        self,
        registry: RuntimeRegistry,
        executor: Executor,
        codecs: CodecRegistry,
        *,
        grace: float,
        freeze: bool,
        spawn: Spawn,
    ) -> None:
        self._registry = registry
        self._executor = executor
        self._codecs = codecs
        self._grace = grace
        self._freeze = freeze
        self._spawn = spawn
        self._loading = 0  # groups loading; the heap is frozen when the last one ends

    async def reload(self, model: ModelVersions, sources: list[ModelSource]) -> list[str]:
        """A repository load of ``model`` from ``sources`` (call with ``model.lock`` held):
        load them as a group and retire the versions no longer in the repository. Returns the
        failure reasons."""
        fresh = [ModelVersion(s) for s in sources]
        for mv in fresh:
            current = model.versions.get(mv.version)
            if current is None or current.state is not ModelState.READY:
                model.put(mv)  # nothing serves this version: show it LOADING
        failures = await self.load_group(model, fresh)
        wanted = {s.version for s in sources}
        for version in [v for v in model.versions if v not in wanted]:
            gone = model.remove(version)
            if gone is not None:
                self._spawn(self.retire(gone))
        return failures

    async def load_group(self, model: ModelVersions, fresh: list[ModelVersion]) -> list[str]:
        """Load new versions of one model and swap each in once it is READY (call with
        ``model.lock`` held); a stateful model's old copy retires first. Returns the failure
        reasons."""
        handed, classes = await self._hand_over(model, fresh)
        self._loading += 1
        try:
            await asyncio.gather(
                *(
                    load_version(
                        mv,
                        self._registry,
                        self._executor,
                        self._codecs,
                        resolved=classes.get(mv.version),
                    )
                    for mv in fresh
                )
            )
            restored = await self._restore(fresh, handed)
        finally:
            self._loading -= 1
            if self._loading == 0 and self._freeze:
                freeze_heap()
        failures = []
        for mv in fresh:
            current = model.versions.get(mv.version)
            if mv.state is not ModelState.READY:
                again = restored.get(mv.version)
                if again is not None:
                    failures.append(f"{mv.label()}: {mv.reason} (its previous copy serves again)")
                    model.put(again)
                    continue
                failures.append(f"{mv.label()}: {mv.reason}")
                if current is not None and current is not mv and current.runtime is not None:
                    continue  # the old version keeps serving
            if current is not mv:
                model.put(mv)
                if current is not None:
                    self._spawn(self.retire(current))
        return failures

    async def _hand_over(
        self, model: ModelVersions, fresh: list[ModelVersion]
    ) -> tuple[dict[str, ModelVersion], dict[str, type[Runtime]]]:
        """Retire, before the new copies load, the serving copies whose model keeps state.

        Returns the retired copies and the runtime classes resolved on the way, by version.
        """
        handed: dict[str, ModelVersion] = {}
        classes: dict[str, type[Runtime]] = {}
        broker = current_broker()
        for mv in fresh:
            current = model.versions.get(mv.version)
            if current is None or current is mv or current.runtime is None:
                continue  # nothing serves this version: nothing to hand over
            stateful, cls = await self._executor.call(hands_over_state, current, mv, self._registry)
            if cls is not None:
                classes[mv.version] = cls
            if not stateful:
                continue
            settings = mv.source.settings or current.source.settings
            if broker is not None and settings is not None:
                # ``--workers N``: the one copy runs in the supervisor's pool. Said by every
                # process before it gives its share back: the supervisor stops the old pool
                # once all have, and starts the new one only after that.
                await self._executor.call(broker.hand_over, settings.name, settings.version)
            # Requests from now on find the new copy, not ready, and get a 503 saying why.
            mv.reason = HANDOVER_REASON
            model.put(mv)
            handed[mv.version] = current
        await asyncio.gather(*(self.retire(old) for old in handed.values()))
        return handed, classes

    async def _restore(
        self, fresh: list[ModelVersion], handed: dict[str, ModelVersion]
    ) -> dict[str, ModelVersion]:
        """Load again, from their own settings, the handed-over copies whose successor failed
        to load; the ones that are READY again, by version."""
        again = {
            mv.version: ModelVersion(handed[mv.version].source)
            for mv in fresh
            if mv.version in handed and mv.state is not ModelState.READY
        }
        registry, executor, codecs = self._registry, self._executor, self._codecs
        await asyncio.gather(*(load_version(v, registry, executor, codecs) for v in again.values()))
        return {v: mv for v, mv in again.items() if mv.state is ModelState.READY}

    async def retire(self, mv: ModelVersion) -> None:
        """Take ``mv`` out of service (``retire_version``)."""
        await retire_version(mv, self._executor, self._grace)
        if self._freeze:
            # What the version held may be frozen (``freeze_heap``): give it back to the
            # collector so that its reference cycles can go; the next load freezes again.
            gc.unfreeze()
