"""The plugin boundary: the entry point, the hook, and no scikit-learn import until a load."""

from __future__ import annotations

import kernel_sklearn
from kernel.testing import entry_point, imported_with, registered_runtimes
from kernel_sklearn import SKLearnRuntime


def test_entry_point_names_the_module() -> None:
    ep = entry_point("sklearn")
    assert ep.value == "kernel_sklearn"
    assert ep.load() is kernel_sklearn


def test_hook_registers_the_runtime() -> None:
    assert registered_runtimes(kernel_sklearn) == [("sklearn", SKLearnRuntime)]
    assert SKLearnRuntime.framework_modules[0] == "sklearn"


def test_importing_the_plugin_does_not_import_sklearn() -> None:
    assert imported_with("kernel_sklearn", "sklearn", "joblib") == []
