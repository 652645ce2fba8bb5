"""The plugin boundary: the entry point, the hook, the MLServer alias, and no XGBoost import
until a model loads."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points

import pluggy

import kernel_xgboost
from kernel import Runtime, hookspecs
from kernel_xgboost import XGBoostRuntime


def test_entry_point_names_the_module() -> None:
    (ep,) = [ep for ep in entry_points(group="kernel.plugins") if ep.name == "xgboost"]
    assert ep.value == "kernel_xgboost"
    assert ep.load() is kernel_xgboost


def test_hook_registers_the_runtime() -> None:
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    pm.register(kernel_xgboost, name="xgboost")
    pm.check_pending()
    registered: list[tuple[str, type[Runtime]]] = []
    pm.hook.kernel_register_runtimes(register=lambda name, cls: registered.append((name, cls)))
    assert registered == [("xgboost", XGBoostRuntime)]
    assert XGBoostRuntime.framework_modules == ("xgboost",)


def test_importing_the_plugin_does_not_import_xgboost() -> None:
    code = "import kernel_xgboost, sys; print('xgboost' in sys.modules, 'joblib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
