"""``kernel.plugin_checks`` (re-exported by ``kernel.testing``): a plugin's entry point, what
its hook registers and what importing it imports."""

from __future__ import annotations

import pluggy
import pytest

import kernel
from kernel.testing import entry_point, imported_with, registered_runtimes


class First(kernel.Runtime):
    pass


class Second(kernel.Runtime):
    pass


class TwoRuntimes:
    @kernel.hookimpl
    def kernel_register_runtimes(self, register: kernel.RegisterRuntime) -> None:
        register("first", First)
        register("second", Second)


class WrongSignature:
    @kernel.hookimpl
    def kernel_register_runtimes(self, register: object, extra: object) -> None:
        raise AssertionError("never called")


def test_registered_runtimes_in_order() -> None:
    assert registered_runtimes(TwoRuntimes()) == [("first", First), ("second", Second)]


def test_a_hook_that_does_not_match_its_spec_fails() -> None:
    with pytest.raises(pluggy.PluginValidationError):
        registered_runtimes(WrongSignature())


def test_entry_point_of_an_installed_plugin() -> None:
    assert entry_point("sklearn").value == "kernel_sklearn"
    with pytest.raises(LookupError, match=r"0 'kernel\.plugins' entry points are named 'nope'"):
        entry_point("nope")


def test_imported_with_reports_watched_modules_only() -> None:
    assert imported_with("json", "json", "decimal", "kernel_never_installed") == ["json"]
    with pytest.raises(RuntimeError, match="importing 'kernel_never_installed' failed"):
        imported_with("kernel_never_installed", "json")
