"""The hook specifications: every way a plugin extends the kernel, one hook each.

Hooks are called with keyword arguments; an implementation may accept any subset of them.
Hook signatures are public API: arguments are only ever added, never renamed or removed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Protocol

import pluggy

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

    from kernel.api import ControlPlane, DataPlane
    from kernel.codecs.base import RequestCodec, TensorCodec
    from kernel.lifecycle import Kernel
    from kernel.runtime import Runtime

__all__ = ["RegisterCodec", "RegisterRoute", "RegisterRuntime", "hookimpl", "hookspec"]

PROJECT = "kernel"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


class RegisterRuntime(Protocol):
    """The ``register`` callback given to ``kernel_register_runtimes``."""

    def __call__(self, name: str, runtime_class: type[Runtime]) -> None: ...


@hookspec
def kernel_register_runtimes(register: RegisterRuntime) -> None:
    """Register model runtimes: call ``register(name, RuntimeClass)`` once per runtime.

    Fires once, when the kernel builds its plugin manager at start-up. ``name`` is what
    ``model-settings.json`` puts in ``implementation`` (``"sklearn"``); the class is also
    reachable by its class path (``"kernel_sklearn.SKLearnRuntime"``). Registering a name twice
    is a start-up error that names both plugins.
    """


class RegisterCodec(Protocol):
    """The ``register`` callback given to ``kernel_register_codecs``."""

    def __call__(self, codec: TensorCodec | RequestCodec) -> None: ...


@hookspec
def kernel_register_codecs(register: RegisterCodec) -> None:
    """Register content types: call ``register(codec)`` with a ``kernel.codecs.TensorCodec``
    (input level) or ``kernel.codecs.RequestCodec`` (request level) instance.

    Fires once, when the kernel builds its plugin manager at start-up, after
    ``kernel_register_runtimes``. The codec's ``content_type`` is the name requests and model
    settings use; registering a name twice at the same level is a start-up error that names
    both plugins. The built-in codecs (``np``, ``str``, ``base64``, ``datetime``, ``pd``,
    ``dict``) are registered this way by the built-in ``codecs`` plugin.

    Example::

        class UpperCodec(kernel.codecs.TensorCodec):
            content_type = "upper"

            def decode(self, tensor):
                return [bytes(v).decode().upper() for v in tensor.data.reshape(-1)]

            def encode(self, name, value):
                ...

        @hookimpl
        def kernel_register_codecs(register):
            register(UpperCodec())
    """


@hookspec
def kernel_startup(kernel: Kernel) -> Awaitable[None] | None:
    """Run start-up work once the kernel has its runtimes, before any model loads.

    Fires once per kernel start, in registration order. Return an awaitable (for example the
    coroutine of an ``async def``) for the kernel to await, or ``None``. An exception fails the
    start-up with a ``PluginLoadError`` that names the plugin.

    Example::

        @hookimpl
        def kernel_startup(kernel):
            async def connect():
                await my_client.connect()
            return connect()
    """


@hookspec
def kernel_shutdown(kernel: Kernel) -> Awaitable[None] | None:
    """Release what ``kernel_startup`` took, after every model has been unloaded.

    Fires once per kernel stop. Return an awaitable or ``None``. An exception is logged with
    the plugin's name and does not stop the other plugins' shut-down.
    """


class RegisterRoute(Protocol):
    """The ``register`` callback given to ``kernel_register_routes``."""

    def __call__(
        self,
        path: str,
        endpoint: Callable[[Request], Awaitable[Response]],
        *,
        methods: Sequence[str] = ("GET",),
    ) -> None: ...


@hookspec
def kernel_register_routes(register: RegisterRoute, data: DataPlane, control: ControlPlane) -> None:
    """Add HTTP routes to the REST server: call ``register(path, endpoint, methods=[...])``.

    Fires once per REST app, when the server builds it (after ``kernel_startup``; models may
    still be loading). ``path`` is a starlette path (``"/v2/models/{model}/explain"``);
    ``endpoint`` is ``async def endpoint(request: starlette.requests.Request) -> Response``.
    ``data`` and ``control`` are the planes the transports use: call models through
    ``data.infer`` so metrics, draining and worker processes apply. Bodies are read bounded by
    ``max_request_size`` (413) before the endpoint runs, and an exception the endpoint raises
    is answered from the kernel's error table. A path and method the kernel or another plugin
    already serves is a start-up error naming both.

    Example::

        @hookimpl
        def kernel_register_routes(register, data):
            async def hello(request):
                return PlainTextResponse("ready" if data.ready() else "loading")

            register("/hello", hello)
    """
