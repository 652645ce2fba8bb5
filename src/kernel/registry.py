"""The runtime registry, and how ``implementation`` in ``model-settings.json`` resolves.

``implementation`` may be, tried in this order:

1. a registered runtime name (``"sklearn"``);
2. a registered runtime's class path, as defined (``kernel_sklearn.runtime.SKLearnRuntime``)
   or as re-exported by an imported module (``kernel_sklearn.SKLearnRuntime``);
3. an MLServer class path (``"mlserver_sklearn.SKLearnModel"``), an alias of kernel's runtime
   for that framework;
4. a class in a ``.py`` file next to the model (``"models.MyRuntime"`` -> ``models.py``),
   imported under a module name unique to the model folder.

Resolution never imports a package by name: only the model's own file is imported, so the
registry is the single list of what can run.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from kernel.errors import PluginLoadError, RuntimeNotFound
from kernel.runtime import Runtime

__all__ = ["KNOWN_RUNTIMES", "KnownRuntime", "RegisteredRuntime", "RuntimeRegistry"]


@dataclass(frozen=True, slots=True)
class KnownRuntime:
    """A runtime the kernel project ships as a plugin, for aliases and install hints."""

    name: str
    class_path: str
    mlserver_class_path: str

    @property
    def install_hint(self) -> str:
        return f"pip install kernel[{self.name}]"


KNOWN_RUNTIMES: Final[tuple[KnownRuntime, ...]] = (
    KnownRuntime("sklearn", "kernel_sklearn.SKLearnRuntime", "mlserver_sklearn.SKLearnModel"),
    KnownRuntime("xgboost", "kernel_xgboost.XGBoostRuntime", "mlserver_xgboost.XGBoostModel"),
    KnownRuntime("lightgbm", "kernel_lightgbm.LightGBMRuntime", "mlserver_lightgbm.LightGBMModel"),
    KnownRuntime("catboost", "kernel_catboost.CatBoostRuntime", "mlserver_catboost.CatboostModel"),
    KnownRuntime("mlflow", "kernel_mlflow.MLflowRuntime", "mlserver_mlflow.MLflowRuntime"),
    KnownRuntime("mllib", "kernel_mllib.MLlibRuntime", "mlserver_mllib.MLlibModel"),
    KnownRuntime(
        "alibi-detect",
        "kernel_alibi_detect.AlibiDetectRuntime",
        "mlserver_alibi_detect.AlibiDetectRuntime",
    ),
)

_BY_CLASS_PATH: Final = {
    path: known
    for known in KNOWN_RUNTIMES
    for path in (known.class_path, known.mlserver_class_path)
}


@dataclass(frozen=True, slots=True)
class RegisteredRuntime:
    """A runtime in the registry: its name, class and the plugin that registered it."""

    name: str
    runtime_class: type[Runtime]
    plugin: str

    @property
    def class_path(self) -> str:
        cls = self.runtime_class
        return f"{cls.__module__}.{cls.__qualname__}"


class RuntimeRegistry:
    """Runtime name -> class, filled through the ``kernel_register_runtimes`` hook."""

    def __init__(self) -> None:
        self._by_name: dict[str, RegisteredRuntime] = {}
        self._by_class_path: dict[str, RegisteredRuntime] = {}

    def add(self, name: str, runtime_class: type[Runtime], plugin: str) -> None:
        """Register ``runtime_class`` as ``name`` on behalf of ``plugin``.

        Raises ``PluginLoadError`` for a name already taken (naming both plugins) or a class
        that is not a ``kernel.Runtime``.
        """
        if not (isinstance(runtime_class, type) and issubclass(runtime_class, Runtime)):
            raise PluginLoadError(
                f"plugin {plugin!r} registered runtime {name!r} as {runtime_class!r},"
                " which is not a subclass of kernel.Runtime"
            )
        if not name:
            raise PluginLoadError(f"plugin {plugin!r} registered a runtime with an empty name")
        existing = self._by_name.get(name)
        if existing is not None:
            raise PluginLoadError(
                f"runtime {name!r} is registered twice: by plugin {existing.plugin!r}"
                f" ({existing.class_path}) and by plugin {plugin!r}"
            )
        entry = RegisteredRuntime(name, runtime_class, plugin)
        self._by_name[name] = entry
        self._by_class_path[entry.class_path] = entry

    def __iter__(self) -> Iterator[RegisteredRuntime]:
        return iter(sorted(self._by_name.values(), key=lambda r: r.name))

    def __len__(self) -> int:
        return len(self._by_name)

    def names(self) -> list[str]:
        return sorted(self._by_name)

    def get(self, name: str) -> RegisteredRuntime:
        """The runtime registered as ``name``; ``RuntimeNotFound`` listing the installed ones."""
        try:
            return self._by_name[name]
        except KeyError:
            raise RuntimeNotFound(self._missing(name, f"runtime {name!r}")) from None

    def name_of(self, runtime_class: type[Runtime]) -> str | None:
        """The registered name of a runtime class, or ``None`` for a model's own class."""
        for entry in self._by_name.values():
            if entry.runtime_class is runtime_class:
                return entry.name
        return None

    def resolve(self, implementation: str, folder: str | Path) -> type[Runtime]:
        """The runtime class ``implementation`` names, for the model in ``folder``.

        Raises ``RuntimeNotFound`` whose message lists the installed runtimes and, for a known
        framework, the package that provides it.
        """
        entry = self._by_name.get(implementation) or self._by_class_path.get(implementation)
        if entry is not None:
            return entry.runtime_class
        reexported = self._reexported(implementation)
        if reexported is not None:
            return reexported
        known = _BY_CLASS_PATH.get(implementation)
        if known is not None:
            if known.name in self._by_name:
                return self._by_name[known.name].runtime_class
            raise RuntimeNotFound(
                self._missing(known.name, f"implementation {implementation!r}", known)
            )
        local = _local_runtime(implementation, Path(folder))
        if local is not None:
            return local
        for known in KNOWN_RUNTIMES:
            if implementation == known.name:
                raise RuntimeNotFound(
                    self._missing(known.name, f"implementation {implementation!r}", known)
                )
        raise RuntimeNotFound(
            f"implementation {implementation!r} resolves to no runtime: it is not a registered"
            " runtime name, a runtime class path, an MLServer class path, or a class in a .py"
            f" file in {str(folder)!r}; installed runtimes: {self._installed()}"
        )

    def _reexported(self, path: str) -> type[Runtime] | None:
        """A registered class reached through an already-imported module's attribute."""
        module_name, _, attr = path.rpartition(".")
        module = sys.modules.get(module_name)
        candidate: object = getattr(module, attr, None) if module is not None and attr else None
        for entry in self._by_name.values():
            if entry.runtime_class is candidate:
                return entry.runtime_class
        return None  # not a registered class (or not imported, so not a plugin's)

    def _installed(self) -> str:
        return ", ".join(self.names()) or "none"

    def _missing(self, name: str, what: str, known: KnownRuntime | None = None) -> str:
        if known is None:
            known = next((k for k in KNOWN_RUNTIMES if k.name == name), None)
        if known is None:
            return f"no runtime {name!r} is installed; installed runtimes: {self._installed()}"
        return (
            f"{what} needs the {name!r} runtime, which is not installed"
            f" ({known.install_hint}); installed runtimes: {self._installed()}"
        )


def _local_runtime(implementation: str, folder: Path) -> type[Runtime] | None:
    """Import ``a.b.Class`` from ``folder/a/b.py`` under a module name unique to the folder.

    Each model folder gets its own name, so two models' ``models.py`` never collide, and
    nothing is added to ``sys.path``. A reload re-executes the file.
    """
    module_path, _, attr = implementation.rpartition(".")
    if not module_path or not attr:
        return None
    relative = Path(*module_path.split("."))
    file = folder / relative.with_suffix(".py")
    if not file.is_file():
        file = folder / relative / "__init__.py"
        if not file.is_file():
            return None
    digest = hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:16]
    # Not dotted: pickle imports a dotted module's parent first, and there is none.
    unique = f"_kernel_model_{digest}_{module_path.replace('.', '_')}"
    spec = importlib.util.spec_from_file_location(unique, file)
    if spec is None or spec.loader is None:
        return None
    module = importlib.util.module_from_spec(spec)
    # Registered before executing, as a normal import would, so that pickling and
    # dataclasses inside the file can find their module.
    sys.modules[unique] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(unique, None)
        raise RuntimeNotFound(
            f"implementation {implementation!r}: importing {str(file)!r} failed:"
            f" {type(exc).__name__}: {exc}"
        ) from exc
    cls = getattr(module, attr, None)
    if cls is None:
        raise RuntimeNotFound(f"implementation {implementation!r}: {str(file)!r} has no {attr!r}")
    if not (isinstance(cls, type) and issubclass(cls, Runtime)):
        raise RuntimeNotFound(
            f"implementation {implementation!r} in {str(file)!r} is not a subclass of"
            " kernel.Runtime (MLServer's MLModel subclasses must be ported)"
        )
    return cls
