"""``Kernel``: the one owner of plugins, runtimes, models and their lifecycle.

It implements ``kernel.api.DataPlane`` and ``ControlPlane``; the transports call nothing else.
Use it as an async context manager, or call ``start()`` / ``stop()`` yourself (the server does,
so that it can listen while models load)::

    async with Kernel(settings) as kernel:     # plugins loaded, every model finished loading
        response = await kernel.infer("iris", None, request)

The constructor only stores its arguments; plugins load and models start loading in
``start()``. Models load concurrently; one that fails is UNAVAILABLE with its reason while the
others serve. Every runtime call runs in the executor, off the event loop. How new copies of a
model replace the serving ones (and how a model that keeps state is handed over) is
``kernel._swap``'s.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Collection, Coroutine, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import msgspec

from kernel._loading import describe
from kernel._swap import Swapper
from kernel.batching import batcher_for
from kernel.codecs.registry import CodecRegistry
from kernel.codecs.wire import check_content_types
from kernel.errors import (
    InferenceError,
    KernelError,
    ModelLoadError,
    ModelNotFound,
    ModelNotReady,
    SettingsError,
    status_code,
)
from kernel.executor import Executor
from kernel.metrics import Metrics, MetricsSnapshot
from kernel.models import (
    ModelState,
    ModelVersion,
    ModelVersions,
    build_config,
    build_metadata,
    require_ready,
)
from kernel.plugins import Plugins, load_plugins
from kernel.registry import RuntimeRegistry
from kernel.repository import ModelSource, scan
from kernel.settings import ServerSettings
from protocol.errors import ProtocolError
from protocol.messages import (
    InferenceRequest,
    InferenceResponse,
    ModelConfig,
    ModelMetadataResponse,
    RepositoryIndexEntry,
    ServerMetadataResponse,
)

__all__ = ["EXTENSIONS", "Kernel"]

logger = logging.getLogger("kernel")

#: Protocol extensions this server implements, as ``GET /v2`` lists them.
EXTENSIONS = ("binary_tensor_data", "model_repository", "model_configuration")


class Kernel:
    """The microkernel. See the module docstring.

    ``plugins`` are extra ``(name, plugin)`` pairs registered after the installed ones (tests,
    embedding applications); ``autoload=False`` skips installed plugins; ``environ`` holds the
    ``KERNEL_*`` plugin switches (``os.environ`` by default).
    """

    def __init__(
        self,
        settings: ServerSettings,
        *,
        plugins: Sequence[tuple[str, object]] = (),
        autoload: bool | None = None,
        environ: Mapping[str, str] | None = None,
        freeze_heap: bool = False,
    ) -> None:
        """``freeze_heap``: freeze the garbage collector's heap after loads (see
        ``kernel._swap.freeze_heap``). Process-wide state, so only ``kernel serve``'s own
        processes ask for it; an application embedding a ``Kernel`` keeps its collector as it
        set it."""
        self.settings = settings
        self.registry = RuntimeRegistry()
        #: Content type -> codec, filled by the ``kernel_register_codecs`` hook at start.
        self.codecs = CodecRegistry()
        self.metrics_registry = Metrics()
        self._extra_plugins = tuple(plugins)
        self._autoload = autoload
        self._environ = environ
        self._plugins: Plugins | None = None
        self._executor = Executor(settings.executor_threads)
        self._models: dict[str, ModelVersions] = {}
        self._unloaded: set[str] = set()
        self._tasks: set[asyncio.Task[object]] = set()
        self._started = False
        self._stopping = False
        self._inflight = 0
        self._idle: asyncio.Event | None = None
        self._swapper = Swapper(
            self.registry,
            self._executor,
            self.codecs,
            grace=settings.graceful_timeout,
            freeze=freeze_heap,
            spawn=self._spawn,
        )

    # --- lifecycle ---------------------------------------------------------------------------

    @property
    def plugins(self) -> Plugins:
        if self._plugins is None:
            raise RuntimeError("the kernel is not started")
        return self._plugins

    async def __aenter__(self) -> Kernel:
        await self.start()
        await self.wait_loaded()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def start(self, only: Collection[str] | None = None) -> None:
        """Load plugins and runtimes, run start-up hooks, and start loading every model
        (or, given ``only``, the models of those names: a restarted server process loads the
        model set its siblings hold).

        Returns once loading has started; ``wait_loaded()`` waits for it to finish. Raises
        ``PluginLoadError`` (duplicate runtime, bad hook) or ``SettingsError`` (no models
        folder).
        """
        if self._started:
            return
        root = Path(self.settings.model_repository_root)
        if not await asyncio.to_thread(root.is_dir):
            raise SettingsError(f"models folder {str(root)!r} does not exist")
        self._plugins = load_plugins(
            self._extra_plugins, environ=self._environ, autoload=self._autoload
        )
        self._plugins.register_runtimes(self.registry)
        self._plugins.register_codecs(self.codecs)
        self._executor.start()
        self._started = True
        await self._plugins.startup(self)
        sources = await self._executor.call(scan, root)
        by_name: dict[str, list[ModelSource]] = {}
        for source in sources:
            if only is None or source.name in only:
                by_name.setdefault(source.name, []).append(source)
        logger.info(
            "found %d model version(s) in %s; runtimes: %s",
            len(sources),
            root,
            ", ".join(self.registry.names()) or "none",
        )
        for name, group in by_name.items():
            model = self._models[name] = ModelVersions(name)
            fresh = [ModelVersion(s) for s in group]
            for mv in fresh:
                model.put(mv)
            self._spawn(self._load_locked(model, fresh))

    def _spawn(self, coro: Coroutine[Any, Any, object]) -> None:
        task: asyncio.Task[object] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def wait_loaded(self) -> None:
        """Wait until every start-up load (and pending unload) has finished."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def drain(self, grace: float) -> bool:
        """Stop taking requests and wait up to ``grace`` seconds for those in flight; True if
        none is left."""
        self._stopping = True
        if self._inflight == 0:
            return True
        self._idle = asyncio.Event()
        try:
            await asyncio.wait_for(self._idle.wait(), grace)
        except TimeoutError:
            logger.warning("%d request(s) still running after %.1f s", self._inflight, grace)
            return False
        return True

    async def stop(self) -> None:
        """Drain requests (bounded by ``graceful_timeout``), unload every model, run the
        shut-down hooks and stop the executor."""
        if not self._started:
            return
        await self.drain(self.settings.graceful_timeout)
        await self.wait_loaded()
        models, self._models = self._models, {}
        await asyncio.gather(*(self._swapper.retire(mv) for m in models.values() for mv in m.all()))
        if self._plugins is not None:
            await self._plugins.shutdown(self)
        await asyncio.to_thread(self._executor.shutdown)
        self._started = False
        logger.info("kernel stopped")

    async def _load_locked(self, model: ModelVersions, fresh: list[ModelVersion]) -> None:
        async with model.lock:
            await self._swapper.load_group(model, fresh)

    # --- control plane -----------------------------------------------------------------------

    async def repository_index(self, ready_only: bool = False) -> list[RepositoryIndexEntry]:
        """Every model version with its state and reason; unloaded models as UNAVAILABLE."""
        entries = [
            RepositoryIndexEntry(mv.name, mv.version, mv.state.value, mv.reason)
            for name in sorted(self._models)
            for mv in self._models[name].all()
        ]
        entries += [
            RepositoryIndexEntry(name, "", ModelState.UNAVAILABLE.value, "unloaded")
            for name in sorted(self._unloaded - self._models.keys())
        ]
        if ready_only:
            entries = [e for e in entries if e.state == ModelState.READY.value]
        return entries

    async def load_model(self, name: str) -> None:
        """Load or reload ``name`` from the repository folder(s); see ``ControlPlane``.

        A version that fails to load replaces nothing that is READY. A model whose runtime
        keeps state (``Runtime.keeps_state``) is handed over: its serving copy retires before
        the new one loads, and requests meanwhile get ``ModelNotReady`` (see ``kernel._swap``).
        Raises ``ModelNotFound`` when no folder describes it, ``ModelLoadError`` with each
        failing version's reason.
        """
        root = Path(self.settings.model_repository_root)
        sources = [s for s in await self._executor.call(scan, root) if s.name == name]
        if not sources:
            raise ModelNotFound(f"model {name!r} is not in the model repository {str(root)!r}")
        model = self._models.get(name)
        if model is None:
            model = self._models[name] = ModelVersions(name)
        self._unloaded.discard(name)
        async with model.lock:
            failures = await self._swapper.reload(model, sources)
        if failures:
            raise ModelLoadError("; ".join(failures))

    async def unload_model(self, name: str) -> None:
        """Unload every version of ``name``; it answers 404 afterwards."""
        model = self._models.get(name)
        if model is None:
            raise ModelNotFound(self._not_found(name))
        async with model.lock:
            if self._models.get(name) is model:
                del self._models[name]
            self._unloaded.add(name)
            await asyncio.gather(*(self._swapper.retire(mv) for mv in model.all()))

    # --- data plane --------------------------------------------------------------------------

    def _not_found(self, name: str) -> str:
        known = ", ".join(repr(n) for n in sorted(self._models)) or "none"
        return f"model {name!r} not found; models: {known}"

    def _find(self, name: str, version: str | None) -> ModelVersion:
        model = self._models.get(name)
        if model is None:
            raise ModelNotFound(self._not_found(name))
        return model.find(version)

    async def infer(
        self, name: str, version: str | None, request: InferenceRequest, *, protocol: str = "rest"
    ) -> InferenceResponse:
        """Run one inference on the model version; see ``DataPlane``.

        Raises ``ModelNotFound`` (404), ``ModelNotReady`` (503, with the reason), the
        runtime's ``BadRequest`` / ``ProtocolError`` (400) and ``InferenceError`` (500, with
        the runtime's message) for anything else the runtime raised.
        """
        mv = self._find(name, version)
        started = time.perf_counter()
        code = 200
        try:
            if self._stopping:
                raise ModelNotReady("the server is shutting down")
            runtime = require_ready(mv)
            typed = mv.typed
            if typed is None:
                check_content_types(request, self.codecs)
            mv.inflight += 1
            self._inflight += 1
            try:
                if runtime.settings.max_batch_size > 1:  # adaptive batching
                    response = await batcher_for(mv, runtime, self._executor).submit(request)
                elif typed is None:
                    response = await self._executor.run(runtime.predict, request)
                else:  # decode, predict and encode in one executor call
                    response = await self._executor.run(typed, request)
            finally:
                mv.finished()
                self._inflight -= 1
                if self._inflight == 0 and self._idle is not None:
                    self._idle.set()
            if not isinstance(response, InferenceResponse):
                raise InferenceError(
                    f"{mv.label()}: the runtime returned {type(response).__name__},"
                    " not an InferenceResponse"
                )
        except (KernelError, ProtocolError) as exc:
            code = status_code(exc) or 500  # the ``code`` metrics label
            raise
        except asyncio.CancelledError:
            # The transport gave up on the call (gRPC client deadline, closed connection).
            code = 504
            raise
        except Exception as exc:
            code = 500
            logger.exception("%s: predict raised", mv.label())
            raise InferenceError(f"{mv.label()}: {describe(exc)}") from exc
        finally:
            self.metrics_registry.record_infer(
                mv.name, mv.version, protocol, code, time.perf_counter() - started
            )
        version_out = mv.version or msgspec.UNSET
        if (
            response.model_name != mv.name
            or response.model_version != version_out
            or response.id != request.id
        ):
            response = msgspec.structs.replace(
                response, model_name=mv.name, model_version=version_out, id=request.id
            )
        return response

    def live(self) -> bool:
        return self._started

    def ready(self) -> bool:
        """Strict: every model version READY; relaxed: none still LOADING."""
        if not self._started or self._stopping:
            return False
        versions = (mv for m in self._models.values() for mv in m.all())
        if self.settings.strict_readiness:
            return all(mv.state is ModelState.READY for mv in versions)
        return all(mv.state is not ModelState.LOADING for mv in versions)

    def model_ready(self, name: str, version: str | None) -> bool:
        return self._find(name, version).state is ModelState.READY

    def server_metadata(self) -> ServerMetadataResponse:
        from kernel import __version__

        return ServerMetadataResponse(
            name=self.settings.server_name,
            version=self.settings.server_version or __version__,
            extensions=list(EXTENSIONS),
        )

    def model_metadata(self, name: str, version: str | None) -> ModelMetadataResponse:
        mv = self._find(name, version)
        runtime = require_ready(mv)
        versions = [v.version for v in self._models[name].all()]
        return build_metadata(mv, runtime, versions)

    def model_config(self, name: str, version: str | None) -> ModelConfig:
        mv = self._find(name, version)
        return build_config(mv, require_ready(mv))

    def metrics(self) -> bytes:
        return self.metrics_registry.render(self._model_gauges())

    def metrics_snapshot(self) -> MetricsSnapshot:
        """This process's metrics as data, for the multi-process server to merge."""
        return self.metrics_registry.snapshot(self._model_gauges())

    def _model_gauges(self) -> list[tuple[str, str, str, float | None]]:
        return [
            (mv.name, mv.version, mv.state.value, mv.load_seconds)
            for m in self._models.values()
            for mv in m.all()
        ]
