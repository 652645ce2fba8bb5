"""Finding, loading and calling plugins.

A plugin is a module (or any object) with ``@hookimpl`` functions. Built-in plugins
(``DEFAULT_PLUGINS``) and installed ones (entry-point group ``kernel.plugins``) take the same
path. Every ``Kernel`` builds its own manager when it starts: nothing happens at import time and
there is no global manager.

Operators control loading with environment variables, read when plugins load:

- ``KERNEL_DISABLE_PLUGIN_AUTOLOAD=1``: load no installed plugin (built-ins still load);
- ``KERNEL_PLUGINS=sklearn,xgboost``: load only these installed plugins, by entry-point or
  distribution name (an empty value loads none);
- ``KERNEL_BLOCK_PLUGINS=a,b``: never load these, built-ins included.

A plugin that fails to import or to register is logged by name and skipped; the others load.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import pluggy

from kernel import hookspecs
from kernel.codecs.base import RequestCodec, TensorCodec
from kernel.codecs.registry import CodecRegistry
from kernel.errors import PluginLoadError
from kernel.hookspecs import PROJECT
from kernel.registry import RuntimeRegistry
from kernel.runtime import Runtime

if TYPE_CHECKING:
    from kernel.api import ControlPlane, DataPlane
    from kernel.lifecycle import Kernel

__all__ = [
    "DEFAULT_PLUGINS",
    "ENTRY_POINT_GROUP",
    "PluginFailure",
    "PluginInfo",
    "PluginRoute",
    "PluginSwitches",
    "Plugins",
    "load_plugins",
]

logger = logging.getLogger("kernel.plugins")

ENTRY_POINT_GROUP: Final = "kernel.plugins"

#: Built-in plugins: (plugin name, module), registered like installed ones.
DEFAULT_PLUGINS: Final[tuple[tuple[str, str], ...]] = (
    ("echo", "kernel.default_plugins.echo"),
    ("codecs", "kernel.default_plugins.codecs"),
)


@dataclass(frozen=True, slots=True)
class PluginInfo:
    """A loaded plugin: its name, where it came from and its version."""

    name: str
    distribution: str
    version: str
    module: str
    builtin: bool = False


@dataclass(frozen=True, slots=True)
class PluginFailure:
    """A plugin that was skipped because it failed to import or register."""

    name: str
    distribution: str
    version: str
    error: str


@dataclass(frozen=True, slots=True)
class PluginRoute:
    """An HTTP route a plugin registered through ``kernel_register_routes``."""

    plugin: str
    path: str
    methods: tuple[str, ...]
    endpoint: Callable[..., Any]


def _names(value: str) -> frozenset[str]:
    return frozenset(part.strip() for part in value.split(",") if part.strip())


@dataclass(frozen=True, slots=True)
class PluginSwitches:
    """The operator's plugin switches. ``allow`` is ``None`` when there is no allow-list."""

    autoload: bool = True
    allow: frozenset[str] | None = None
    block: frozenset[str] = frozenset()

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> PluginSwitches:
        """Read ``KERNEL_DISABLE_PLUGIN_AUTOLOAD``, ``KERNEL_PLUGINS``, ``KERNEL_BLOCK_PLUGINS``."""
        disabled = environ.get("KERNEL_DISABLE_PLUGIN_AUTOLOAD", "").strip().lower()
        allow = environ.get("KERNEL_PLUGINS")
        return cls(
            autoload=disabled not in {"1", "true", "yes", "on"},
            allow=None if allow is None else _names(allow),
            block=_names(environ.get("KERNEL_BLOCK_PLUGINS", "")),
        )


class Plugins:
    """One kernel's plugin manager, with a typed method per hook.

    Kernel code calls these methods, never ``pm.hook`` directly. Each hook is called plugin by
    plugin so that what a plugin registers, and any error it raises, is attributed to it.
    """

    def __init__(self, pm: pluggy.PluginManager) -> None:
        self.pm = pm
        self.loaded: list[PluginInfo] = []
        self.failed: list[PluginFailure] = []

    def _per_plugin(self, hook_name: str) -> Iterable[tuple[str, Callable[..., list[Any]]]]:
        hook = getattr(self.pm.hook, hook_name)
        plugins = self.pm.get_plugins()
        for impl in hook.get_hookimpls():
            others = [p for p in plugins if p is not impl.plugin]
            yield impl.plugin_name, self.pm.subset_hook_caller(hook_name, others)

    def register_runtimes(self, registry: RuntimeRegistry) -> None:
        """Call ``kernel_register_runtimes`` on every plugin, filling ``registry``.

        A plugin whose hook raises is logged and skipped, and none of its runtimes are kept;
        a runtime name registered twice raises ``PluginLoadError`` naming both plugins.
        """
        for plugin_name, call in self._per_plugin("kernel_register_runtimes"):
            pending: list[tuple[str, type[Runtime]]] = []

            def register(name: str, runtime_class: type[Runtime]) -> None:
                pending.append((name, runtime_class))  # noqa: B023 - used before the next loop

            try:
                call(register=register)
            except Exception as exc:
                self._fail(plugin_name, f"kernel_register_runtimes raised {_describe(exc)}")
                continue
            for name, runtime_class in pending:
                registry.add(name, runtime_class, plugin_name)

    def register_codecs(self, registry: CodecRegistry) -> None:
        """Call ``kernel_register_codecs`` on every plugin, filling ``registry``.

        A plugin whose hook raises is logged and skipped, and none of its codecs are kept; a
        content type registered twice at one level raises ``PluginLoadError`` naming both
        plugins.
        """
        for plugin_name, call in self._per_plugin("kernel_register_codecs"):
            pending: list[TensorCodec | RequestCodec] = []
            try:
                call(register=pending.append)
            except Exception as exc:
                self._fail(plugin_name, f"kernel_register_codecs raised {_describe(exc)}")
                continue
            for codec in pending:
                registry.add(codec, plugin_name)

    def register_routes(self, data: DataPlane, control: ControlPlane) -> list[PluginRoute]:
        """Call ``kernel_register_routes`` on every plugin; the routes, each with its plugin.

        A plugin whose hook raises, or registers a malformed route, is logged and none of its
        routes are served (the plugin keeps its runtimes: the kernel is already running).
        """
        routes: list[PluginRoute] = []
        for plugin_name, call in self._per_plugin("kernel_register_routes"):
            pending: list[PluginRoute] = []

            def register(
                path: str, endpoint: Callable[..., Any], *, methods: Sequence[str] = ("GET",)
            ) -> None:
                if not isinstance(path, str) or not path.startswith("/"):
                    raise ValueError(f"route path {path!r} does not start with '/'")
                if isinstance(methods, str) or not methods:
                    raise ValueError(f"route {path!r}: methods must be a list like ['POST']")
                if not callable(endpoint):
                    raise ValueError(f"route {path!r}: endpoint is not callable")
                verbs = tuple(str(m).upper() for m in methods)
                pending.append(PluginRoute(plugin_name, path, verbs, endpoint))  # noqa: B023

            try:
                call(register=register, data=data, control=control)
            except Exception as exc:
                logger.error(
                    "plugin %r failed in kernel_register_routes, its routes are not served: %s",
                    plugin_name,
                    _describe(exc),
                )
                continue
            routes.extend(pending)
        return routes

    async def startup(self, kernel: Kernel) -> None:
        """Call ``kernel_startup`` on every plugin, awaiting what each returns."""
        for plugin_name, call in self._per_plugin("kernel_startup"):
            try:
                for result in call(kernel=kernel):
                    if inspect.isawaitable(result):
                        await result
            except Exception as exc:
                raise PluginLoadError(
                    f"plugin {plugin_name!r} failed in kernel_startup: {_describe(exc)}"
                ) from exc

    async def shutdown(self, kernel: Kernel) -> None:
        """Call ``kernel_shutdown`` on every plugin; errors are logged, never raised."""
        for plugin_name, call in self._per_plugin("kernel_shutdown"):
            try:
                for result in call(kernel=kernel):
                    if inspect.isawaitable(result):
                        await result
            except Exception as exc:
                logger.exception("plugin %r failed in kernel_shutdown: %s", plugin_name, exc)

    def _fail(self, name: str, error: str) -> None:
        info = next((p for p in self.loaded if p.name == name), None)
        dist = info.distribution if info else ""
        version = info.version if info else ""
        self.loaded = [p for p in self.loaded if p.name != name]
        if self.pm.get_plugin(name) is not None:
            self.pm.unregister(name=name)
        self.failed.append(PluginFailure(name, dist, version, error))
        logger.error("%s", _failure_message(name, dist, error))

    def _add(self, info: PluginInfo, plugin: object) -> None:
        try:
            self.pm.register(plugin, name=info.name)
        except Exception as exc:
            self.failed.append(PluginFailure(info.name, info.distribution, info.version, str(exc)))
            logger.error("%s", _failure_message(info.name, info.distribution, str(exc)))
            return
        self.loaded.append(info)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _failure_message(name: str, distribution: str, error: str) -> str:
    where = f" (distribution {distribution})" if distribution else ""
    return str(PluginLoadError(f"plugin {name!r}{where} skipped: {error}"))


def _dist_of(ep: Any) -> tuple[str, str]:
    dist = getattr(ep, "dist", None)
    if dist is None:
        return "", ""
    return str(dist.name), str(dist.version)


def load_plugins(
    extra: Sequence[tuple[str, object]] = (),
    *,
    environ: Mapping[str, str] | None = None,
    autoload: bool | None = None,
) -> Plugins:
    """Build a plugin manager with the built-in plugins, the installed ones and ``extra``.

    ``extra`` is ``(name, plugin)`` pairs registered last (tests and embedding applications).
    ``environ`` holds the operator switches (``os.environ`` when ``None``); ``autoload``
    overrides ``KERNEL_DISABLE_PLUGIN_AUTOLOAD``. Raises ``PluginLoadError`` when a registered
    hook implementation does not match any hook specification.
    """
    if environ is None:
        import os

        environ = os.environ
    switches = PluginSwitches.from_environ(environ)
    if autoload is not None:
        switches = PluginSwitches(autoload, switches.allow, switches.block)

    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(hookspecs)
    plugins = Plugins(pm)
    for name in switches.block:
        pm.set_blocked(name)

    from kernel import __version__

    for name, module_name in DEFAULT_PLUGINS:
        if name in switches.block:
            continue
        module = importlib.import_module(module_name)
        plugins._add(PluginInfo(name, "kernel", __version__, module_name, builtin=True), module)

    if switches.autoload:
        for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            dist, version = _dist_of(ep)
            wanted = {ep.name, dist}
            if wanted & switches.block:
                logger.info("plugin %r blocked by KERNEL_BLOCK_PLUGINS", ep.name)
                continue
            if switches.allow is not None and not wanted & switches.allow:
                logger.info("plugin %r not in KERNEL_PLUGINS; not loaded", ep.name)
                continue
            if pm.get_plugin(ep.name) is not None or pm.is_blocked(ep.name):
                # Two distributions can declare one name; the first wins, loudly.
                plugins.failed.append(
                    PluginFailure(ep.name, dist, version, "a plugin of that name is loaded")
                )
                logger.error("%s", _failure_message(ep.name, dist, "name already loaded"))
                continue
            try:
                plugin = ep.load()
            except Exception as exc:
                error = f"failed to import {ep.value!r}: {_describe(exc)}"
                plugins.failed.append(PluginFailure(ep.name, dist, version, error))
                logger.error("%s", _failure_message(ep.name, dist, error))
                continue
            plugins._add(PluginInfo(ep.name, dist, version, str(ep.value)), plugin)

    for name, plugin in extra:
        plugins._add(PluginInfo(name, "", "", getattr(plugin, "__name__", repr(plugin))), plugin)

    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginLoadError(f"plugin {pm.get_name(exc.plugin)!r}: {exc}") from exc
    return plugins
