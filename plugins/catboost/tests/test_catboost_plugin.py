"""The plugin boundary: the entry point, the hook, the MLServer alias, and no CatBoost import
until a load."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pluggy

import kernel_catboost
from kernel import Runtime, hookspecs
from kernel.registry import RuntimeRegistry
from kernel_catboost import CatBoostRuntime


def test_entry_point_names_the_module() -> None:
    (ep,) = [ep for ep in entry_points(group="kernel.plugins") if ep.name == "catboost"]
    assert ep.value == "kernel_catboost"
    assert ep.load() is kernel_catboost


def test_hook_registers_the_runtime() -> None:
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    pm.register(kernel_catboost, name="catboost")
    pm.check_pending()
    registered: list[tuple[str, type[Runtime]]] = []
    pm.hook.kernel_register_runtimes(register=lambda name, cls: registered.append((name, cls)))
    assert registered == [("catboost", CatBoostRuntime)]
    assert CatBoostRuntime.framework_modules == ("catboost",)


def test_every_name_resolves_to_the_runtime(tmp_path: Path) -> None:
    registry = RuntimeRegistry()
    registry.add("catboost", CatBoostRuntime, "kernel-catboost")
    names = ["catboost", "kernel_catboost.CatBoostRuntime", "mlserver_catboost.CatboostModel"]
    assert [registry.resolve(name, tmp_path) for name in names] == [CatBoostRuntime] * 3


def test_importing_the_plugin_does_not_import_catboost() -> None:
    code = "import kernel_catboost, sys; print('catboost' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False"]
