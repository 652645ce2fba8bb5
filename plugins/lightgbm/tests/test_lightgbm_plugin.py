"""The plugin boundary: the entry point, the hook, the MLServer name, and no LightGBM import
until a load."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pluggy

import kernel_lightgbm
from kernel import Runtime, hookspecs
from kernel.registry import RuntimeRegistry
from kernel_lightgbm import LightGBMRuntime


def test_entry_point_names_the_module() -> None:
    (ep,) = [ep for ep in entry_points(group="kernel.plugins") if ep.name == "lightgbm"]
    assert ep.value == "kernel_lightgbm"
    assert ep.load() is kernel_lightgbm


def test_hook_registers_the_runtime() -> None:
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    pm.register(kernel_lightgbm, name="lightgbm")
    pm.check_pending()
    registered: list[tuple[str, type[Runtime]]] = []
    pm.hook.kernel_register_runtimes(register=lambda name, cls: registered.append((name, cls)))
    assert registered == [("lightgbm", LightGBMRuntime)]
    assert LightGBMRuntime.framework_modules == ("lightgbm",)


def test_every_implementation_name_resolves_to_the_runtime(tmp_path: Path) -> None:
    registry = RuntimeRegistry()
    registry.add("lightgbm", LightGBMRuntime, "kernel-lightgbm")
    for implementation in (
        "lightgbm",
        "kernel_lightgbm.LightGBMRuntime",
        "kernel_lightgbm.runtime.LightGBMRuntime",
        "mlserver_lightgbm.LightGBMModel",
    ):
        assert registry.resolve(implementation, tmp_path) is LightGBMRuntime, implementation


def test_importing_the_plugin_does_not_import_lightgbm() -> None:
    code = "import kernel_lightgbm, sys; print('lightgbm' in sys.modules, 'sklearn' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
