"""The plugin boundary: the entry point, the hook, the MLServer alias, and no XGBoost import
until a model loads."""

from __future__ import annotations

import kernel_xgboost
from kernel.testing import entry_point, imported_with, registered_runtimes
from kernel_xgboost import XGBoostRuntime


def test_entry_point_names_the_module() -> None:
    ep = entry_point("xgboost")
    assert ep.value == "kernel_xgboost"
    assert ep.load() is kernel_xgboost


def test_hook_registers_the_runtime() -> None:
    assert registered_runtimes(kernel_xgboost) == [("xgboost", XGBoostRuntime)]
    assert XGBoostRuntime.framework_modules == ("xgboost",)


def test_importing_the_plugin_does_not_import_xgboost() -> None:
    assert imported_with("kernel_xgboost", "xgboost", "joblib") == []
