"""The plugin boundary: the entry point, the hook, MLServer's class path, and no alibi-detect
import until a model loads."""

from __future__ import annotations

import kernel_alibi_detect
from kernel.registry import RuntimeRegistry
from kernel.testing import entry_point, imported_with, registered_runtimes
from kernel_alibi_detect import AlibiDetectRuntime


def test_entry_point_names_the_module() -> None:
    ep = entry_point("alibi-detect")
    assert ep.value == "kernel_alibi_detect"
    assert ep.load() is kernel_alibi_detect


def test_hook_registers_the_runtime() -> None:
    assert registered_runtimes(kernel_alibi_detect) == [("alibi-detect", AlibiDetectRuntime)]
    assert AlibiDetectRuntime.framework_modules == ("kernel_alibi_detect._framework",)


def test_importing_the_plugin_does_not_import_alibi_detect() -> None:
    assert imported_with("kernel_alibi_detect", "alibi_detect", "tensorflow", "numba") == []


def test_every_implementation_name_resolves_to_the_runtime(tmp_path) -> None:  # type: ignore[no-untyped-def]
    registry = RuntimeRegistry()
    registry.add("alibi-detect", AlibiDetectRuntime, "alibi-detect")
    for implementation in (
        "alibi-detect",
        "kernel_alibi_detect.AlibiDetectRuntime",
        "mlserver_alibi_detect.AlibiDetectRuntime",
    ):
        assert registry.resolve(implementation, tmp_path) is AlibiDetectRuntime
