"""Loading and unloading one model version, off the event loop.

``load_version`` takes a version from LOADING to READY or UNAVAILABLE (with the reason);
``retire_version`` takes it out of service once its requests in flight have finished.
"""

from __future__ import annotations

import asyncio
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

__all__ = ["describe", "load_version", "retire_version"]

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
) -> None:
    """Resolve, import and load one version; leaves it READY or UNAVAILABLE.

    A runtime whose ``predict`` takes values gets its typed adapter (``mv.typed``), built once
    here from the signature, with ``codecs`` (the built-in codecs when ``None``)."""
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
