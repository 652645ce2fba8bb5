"""The plugin boundary: the entry point, the hook, and no scikit-learn import until a load."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points

import pluggy

import kernel_sklearn
from kernel import Runtime, hookspecs
from kernel_sklearn import SKLearnRuntime


def test_entry_point_names_the_module() -> None:
    (ep,) = [ep for ep in entry_points(group="kernel.plugins") if ep.name == "sklearn"]
    assert ep.value == "kernel_sklearn"
    assert ep.load() is kernel_sklearn


def test_hook_registers_the_runtime() -> None:
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    pm.register(kernel_sklearn, name="sklearn")
    pm.check_pending()
    registered: list[tuple[str, type[Runtime]]] = []
    pm.hook.kernel_register_runtimes(register=lambda name, cls: registered.append((name, cls)))
    assert registered == [("sklearn", SKLearnRuntime)]
    assert SKLearnRuntime.framework_modules[0] == "sklearn"


def test_importing_the_plugin_does_not_import_sklearn() -> None:
    code = "import kernel_sklearn, sys; print('sklearn' in sys.modules, 'joblib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
