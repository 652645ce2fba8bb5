"""The messages on the control channel between the supervisor and each server process.

One length-prefixed msgpack ``Frame`` per message. A frame with ``id`` 0 is a notification (no
answer); any other id is a request, answered by a frame with the same id and ``reply`` set.
"""

from __future__ import annotations

from typing import Final

import msgspec

from kernel import errors
from kernel.metrics import MetricsSnapshot
from kernel.model_settings import ModelSettings
from kernel.workers.broker import Grant

__all__ = [
    "EXIT_CONFIG",
    "AcquirePool",
    "ApplyLoad",
    "ApplyUnload",
    "Body",
    "Frame",
    "GatherMetrics",
    "HandOver",
    "Hello",
    "Load",
    "MetricsText",
    "PoolGrant",
    "ReleasePool",
    "Result",
    "ServerReady",
    "Snapshot",
    "SnapshotReply",
    "Status",
    "Unload",
    "Welcome",
    "error_of",
    "result_of",
]


#: Exit code of a server process that cannot serve because of its configuration (a missing
#: folder, a plugin that fails to load): the supervisor stops instead of restarting it.
EXIT_CONFIG: Final = 2


class _Message(msgspec.Struct, tag=True):
    pass


# --- from a server process to the supervisor ------------------------------------------------


class Hello(_Message):
    """First request of a process: it is ready to take commands; answered with ``Welcome``."""

    worker: int
    pid: int


class Load(_Message):
    """A repository load sent to this process, for the supervisor to apply everywhere."""

    name: str


class Unload(_Message):
    name: str


class GatherMetrics(_Message):
    """Ask for the whole server's metrics; answered with ``MetricsText``."""


class Status(_Message):
    """Notification: this process's own readiness changed."""

    ready: bool


class AcquirePool(_Message):
    """A share of the server's worker pool for this model version (the supervisor starts it
    for the first process that asks); answered with ``PoolGrant`` or a failed ``Result``."""

    settings: ModelSettings


class HandOver(_Message):
    """The running repository load hands the state of this model version over (it keeps
    state): its pool is to stop once every process has given its share back, before the
    load's new pool of it starts. Sent by every process, before it gives its share back;
    answered with ``Result`` (once the pool has stopped, if no share was left)."""

    name: str
    version: str | None


class ReleasePool(_Message):
    """Give back the share ``row`` of pool ``generation``; answered with ``Result`` once the
    pool has stopped, when this was the last share of a pool no longer current."""

    generation: int
    row: int


# --- from the supervisor to a server process ------------------------------------------------


class Welcome(_Message):
    """The model names every process holds now: the new process loads exactly these.

    ``wait_loaded``: the server has been ready before (this process replaces one that died),
    so it must take connections only once its models are loaded, not steal requests its
    siblings could answer while it loads.
    """

    models: list[str]
    wait_loaded: bool = False


class ApplyLoad(_Message):
    """Load (or reload) a model in this process; answered with ``Result``."""

    name: str


class ApplyUnload(_Message):
    name: str


class Snapshot(_Message):
    """Ask a process for its metrics; answered with ``SnapshotReply``."""


class ServerReady(_Message):
    """Notification: whether every process of the server is ready."""

    ready: bool


# --- answers --------------------------------------------------------------------------------


class Result(_Message):
    """The outcome of a control operation: ``error`` is the message, ``kind`` the
    ``kernel.errors`` class name, so the process that took the call raises the same error."""

    error: str | None = None
    kind: str = ""


class MetricsText(_Message):
    text: bytes


class PoolGrant(_Message):
    grant: Grant


class SnapshotReply(_Message):
    snapshot: MetricsSnapshot


Body = (
    Hello
    | Load
    | Unload
    | GatherMetrics
    | Status
    | AcquirePool
    | HandOver
    | ReleasePool
    | PoolGrant
    | Welcome
    | ApplyLoad
    | ApplyUnload
    | Snapshot
    | ServerReady
    | Result
    | MetricsText
    | SnapshotReply
)


class Frame(msgspec.Struct, array_like=True, frozen=True):
    id: int
    reply: bool
    body: Body


#: The errors a control operation may end with, by class name.
_ERRORS: Final[dict[str, type[errors.KernelError]]] = {
    cls.__name__: cls
    for cls in (
        errors.BadRequest,
        errors.ModelLoadError,
        errors.ModelNotFound,
        errors.ModelNotReady,
        errors.InferenceError,
        errors.RuntimeNotFound,
        errors.PluginLoadError,
        errors.SettingsError,
    )
}


def result_of(exc: BaseException | None) -> Result:
    """The ``Result`` for an operation that raised ``exc`` (``None``: it succeeded)."""
    if exc is None:
        return Result()
    kind = type(exc).__name__ if type(exc).__name__ in _ERRORS else ""
    message = str(exc) if isinstance(exc, errors.KernelError) else f"{type(exc).__name__}: {exc}"
    return Result(error=message, kind=kind)


def error_of(result: Result) -> errors.KernelError | None:
    """The exception a failed ``Result`` stands for (``InferenceError`` for unknown kinds)."""
    if result.error is None:
        return None
    return _ERRORS.get(result.kind, errors.InferenceError)(result.error)
