"""The plugin boundary: the entry point, the hook, the MLServer name, and no LightGBM import
until a load."""

from __future__ import annotations

from pathlib import Path

import kernel_lightgbm
from kernel.registry import RuntimeRegistry
from kernel.testing import entry_point, imported_with, registered_runtimes
from kernel_lightgbm import LightGBMRuntime


def test_entry_point_names_the_module() -> None:
    ep = entry_point("lightgbm")
    assert ep.value == "kernel_lightgbm"
    assert ep.load() is kernel_lightgbm


def test_hook_registers_the_runtime() -> None:
    assert registered_runtimes(kernel_lightgbm) == [("lightgbm", LightGBMRuntime)]
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
    assert imported_with("kernel_lightgbm", "lightgbm", "sklearn") == []
