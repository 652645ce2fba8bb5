"""Loading and unloading one model version, off the event loop.

``load_version`` takes a version from LOADING to READY or UNAVAILABLE (with the reason);
``retire_version`` takes it out of service once its requests in flight have finished;
``hands_over_state`` tells whether a reload must retire the old copy before the new one loads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from kernel.codecs.registry import CodecRegistry
from kernel.codecs.typed import typed_predict
from kernel.errors import KernelError, ModelLoadError
from kernel.executor import Executor
from kernel.models import ModelState, ModelVersion
from kernel.registry import RuntimeRegistry
from kernel.runtime import Runtime
from kernel.workers import PooledRuntime, runs_in_workers
from kernel.workers.broker import current_broker
from protocol.errors import ProtocolError

__all__ = ["describe", "hands_over_state", "load_version", "retire_version"]

logger = logging.getLogger("kernel")


def describe(exc: BaseException) -> str:
    """An exception as a client or operator reads it: our own errors by their message,
    anything else with its type (``KeyError: 'x'`` says more than ``'x'``)."""
    if isinstance(exc, KernelError | ProtocolError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


async def load_version(
    mv: ModelVersion,
    registry: RuntimeRegistry,
    executor: Executor,
    codecs: CodecRegistry | None = None,
    *,
    resolved: type[Runtime] | None = None,
) -> None:
    """Resolve, import and load one version; leaves it READY or UNAVAILABLE.

    A runtime whose ``predict`` takes values gets its typed adapter (``mv.typed``), built once
    here from the signature, with ``codecs`` (the built-in codecs when ``None``). ``resolved``
    is the version's runtime class when the caller has resolved it already (so that a model's
    own .py file is not executed twice)."""
    started = time.perf_counter()
    source = mv.source
    try:
        if source.settings is None:
            raise ModelLoadError(source.error or "unusable model settings")
        settings = source.settings
        cls: type[Runtime]
        if runs_in_workers(settings):  # the real runtime loads in worker processes
            cls = PooledRuntime
        else:
            # In a thread: resolving may import the model's own .py file.
            if resolved is not None:
                cls = resolved
            else:
                cls = await executor.call(registry.resolve, settings.implementation, source.folder)
            if current_broker() is not None and cls.keeps_state(settings):
                # Several server processes: one copy, in the server's pool, holds the state.
                cls = PooledRuntime
            else:
                await executor.prepare(cls)
        runtime = cls(settings)
        if codecs is None:
            from kernel.codecs.registry import default_registry

            codecs = default_registry()
        typed = typed_predict(runtime, codecs)
        if cls.load_imports:
            async with executor.importing():
                await executor.run(runtime.load)
        else:
            await executor.run(runtime.load)
    except Exception as exc:
        mv.state, mv.reason = ModelState.UNAVAILABLE, describe(exc)
        logger.error("%s failed to load from %s: %s", mv.label(), source.folder, mv.reason)
        return
    mv.load_seconds = time.perf_counter() - started
    mv.runtime = runtime
    mv.typed = typed
    mv.runtime_name = (
        runtime.runtime_name
        if isinstance(runtime, PooledRuntime)
        else registry.name_of(cls) or settings.implementation
    )
    mv.state, mv.reason = ModelState.READY, ""
    logger.info(
        "%s loaded (runtime %s) from %s in %.2f s",
        mv.label(),
        mv.runtime_name,
        source.folder,
        mv.load_seconds,
    )


async def retire_version(mv: ModelVersion, executor: Executor, grace: float) -> None:
    """Take a version out of service: wait up to ``grace`` seconds for its requests in
    flight, then unload its runtime. Errors are logged: an unload cannot be refused."""
    if mv.state is ModelState.READY:
        mv.state = ModelState.UNLOADING
    runtime, mv.runtime = mv.runtime, None
    if mv.inflight:
        mv.idle = asyncio.Event()
        try:
            await asyncio.wait_for(mv.idle.wait(), grace)
        except TimeoutError:
            logger.warning("%s: unloading with %d request(s) in flight", mv.label(), mv.inflight)
    if runtime is not None:
        try:
            await executor.run(runtime.unload)
        except Exception as exc:
            logger.error("%s: unload failed: %s", mv.label(), describe(exc))
        logger.info("%s unloaded", mv.label())


def hands_over_state(
    old: ModelVersion, new: ModelVersion, registry: RuntimeRegistry
) -> tuple[bool, type[Runtime] | None]:
    """Whether ``new`` replacing ``old`` hands state over (``Runtime.keeps_state`` of either
    copy), and ``new``'s runtime class when it was resolved here (for ``load_version``).

    Blocking: resolving may execute the model's own .py file (run it in the executor). A model
    in its own Python environment (``parameters.environment_path``) is not resolved: its code
    need not import here, so it counts as keeping no state. A class that does not resolve
    counts so too; its load then says why.
    """
    settings, before = new.source.settings, old.source.settings
    cls: type[Runtime] | None = None
    if settings is not None and not settings.parameters.environment_path:
        with contextlib.suppress(Exception):
            cls = registry.resolve(settings.implementation, new.source.folder)
    if settings is not None and cls is not None and cls.keeps_state(settings):
        return True, cls
    if before is None:
        return False, cls
    runtime = old.runtime
    if runtime is not None and not isinstance(runtime, PooledRuntime):  # loaded here: its class
        return type(runtime).keeps_state(before), cls
    # In workers: the class the same implementation resolves to now.
    same = settings is not None and before.implementation == settings.implementation
    return (cls is not None and same and cls.keeps_state(before)), cls
