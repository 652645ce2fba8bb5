"""``PooledRuntime``: how the kernel sees a model that runs in worker processes.

The kernel loads, calls and unloads it like any runtime (in its executor); each method hands
the work to the model's pool: a ``WorkerPool`` of its own, or, under ``kernel serve --workers
N``, a share (``SharedPool``) of the one pool the supervisor runs for the whole server (see
``kernel.workers.broker``). A model runs in workers when its settings ask for
``parallel_workers`` > 0 or name a Python environment in ``parameters.environment_path``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from kernel.errors import BadRequest, ModelLoadError
from kernel.model_settings import ModelSettings
from kernel.runtime import Runtime
from kernel.workers.broker import Grant, current_broker
from kernel.workers.deadline import transport_timeout
from kernel.workers.messages import Loaded
from kernel.workers.pool import WorkerPool
from kernel.workers.shared import SharedPool
from protocol.messages import InferenceRequest, InferenceResponse, MetadataTensor

__all__ = ["PooledRuntime", "client_timeout", "replicas_of", "runs_in_workers", "worker_python"]


def runs_in_workers(settings: ModelSettings) -> bool:
    """Whether the model's settings ask for worker processes."""
    return (settings.parallel_workers or 0) > 0 or bool(settings.parameters.environment_path)


def replicas_of(settings: ModelSettings) -> int:
    """How many worker processes the model's pool has: ``parallel_workers``, at least one."""
    return max(settings.parallel_workers or 0, 1)


def worker_python(settings: ModelSettings) -> str:
    """The interpreter for the model's workers: ``<environment_path>/bin/python`` when the
    settings name an environment (relative to the model folder), else this one."""
    env = settings.parameters.environment_path
    if not env:
        return sys.executable
    folder = Path(env) if Path(env).is_absolute() else Path(settings.path) / env
    python = folder / "bin" / "python"
    if not python.exists():
        raise ModelLoadError(
            f"model {settings.name!r}: parameters.environment_path {env!r} is not a virtualenv"
            f" ({str(python)!r} does not exist)"
        )
    return str(python)


def client_timeout(request: InferenceRequest) -> float:
    """The client's timeout in seconds from the request parameter ``timeout`` (microseconds,
    as Triton's clients send it); 0 when there is none."""
    params = request.parameters
    value: Any = params.get("timeout") if isinstance(params, dict) else None
    if value is None:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise BadRequest(f"request parameter 'timeout' must be microseconds >= 0, got {value!r}")
    return float(value) / 1e6


class PooledRuntime(Runtime):
    """Stands in for the model's real runtime, which runs in the pool's worker processes."""

    def __init__(self, settings: ModelSettings) -> None:
        super().__init__(settings)
        self.pool: WorkerPool | SharedPool | None = None
        self._grant: Grant | None = None

    def _label(self) -> str:
        version = self.settings.version
        return f"model {self.name!r}" + (f" version {version!r}" if version else "")

    async def load(self) -> None:
        # Both block: the kernel runs load in its executor.
        broker = current_broker()
        if broker is not None:  # the server's one pool, owned by the supervisor
            grant = broker.acquire(self.settings)
            self.pool, self._grant = SharedPool(self.settings, self._label(), grant), grant
            return
        replicas = replicas_of(self.settings)
        pool = WorkerPool(self.settings, replicas, worker_python(self.settings), self._label())
        pool.start()
        self.pool = pool

    async def predict(self, request: InferenceRequest) -> InferenceResponse:
        pool = self.pool
        if pool is None:
            raise ModelLoadError(f"{self._label()} is not loaded")
        limits = [
            t
            for t in (
                self.settings.request_timeout,
                client_timeout(request),
                transport_timeout(request),
            )
            if t > 0
        ]
        return pool.infer(request, min(limits) if limits else 0.0)

    async def unload(self) -> None:
        pool, self.pool = self.pool, None
        grant, self._grant = self._grant, None
        if pool is not None:
            pool.close()
        broker = current_broker()
        if grant is not None and broker is not None:
            broker.release(grant)

    @property
    def _loaded(self) -> Loaded | None:
        return self.pool.loaded if self.pool is not None else None

    @property
    def runtime_name(self) -> str:
        loaded = self._loaded
        return loaded.runtime_name if loaded is not None else self.settings.implementation

    def inputs(self) -> list[MetadataTensor]:
        loaded = self._loaded
        return list(loaded.inputs) if loaded is not None else super().inputs()

    def outputs(self) -> list[MetadataTensor]:
        loaded = self._loaded
        return list(loaded.outputs) if loaded is not None else super().outputs()

    def metadata_parameters(self) -> dict[str, Any]:
        loaded = self._loaded
        return dict(loaded.metadata or {}) if loaded is not None else {}
