"""The plugin boundary: the entry point, the hook, the MLServer alias, and no CatBoost import
until a load."""

from __future__ import annotations

from pathlib import Path

import kernel_catboost
from kernel.registry import RuntimeRegistry
from kernel.testing import entry_point, imported_with, registered_runtimes
from kernel_catboost import CatBoostRuntime


def test_entry_point_names_the_module() -> None:
    ep = entry_point("catboost")
    assert ep.value == "kernel_catboost"
    assert ep.load() is kernel_catboost


def test_hook_registers_the_runtime() -> None:
    assert registered_runtimes(kernel_catboost) == [("catboost", CatBoostRuntime)]
    assert CatBoostRuntime.framework_modules == ("catboost",)


def test_every_name_resolves_to_the_runtime(tmp_path: Path) -> None:
    registry = RuntimeRegistry()
    registry.add("catboost", CatBoostRuntime, "kernel-catboost")
    names = ["catboost", "kernel_catboost.CatBoostRuntime", "mlserver_catboost.CatboostModel"]
    assert [registry.resolve(name, tmp_path) for name in names] == [CatBoostRuntime] * 3


def test_importing_the_plugin_does_not_import_catboost() -> None:
    assert imported_with("kernel_catboost", "catboost") == []
