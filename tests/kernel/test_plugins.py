from __future__ import annotations

import importlib.metadata
import logging
import types
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from core_helpers import Plugin, Tagged, make_kernel, write_model

from kernel import Runtime, hookimpl
from kernel.errors import PluginLoadError
from kernel.hookspecs import RegisterRuntime
from kernel.lifecycle import Kernel
from kernel.plugins import ENTRY_POINT_GROUP, load_plugins
from kernel.registry import RuntimeRegistry


@dataclass
class FakeDist:
    name: str
    version: str


@dataclass
class FakeEntryPoint:
    """What the loader reads of ``importlib.metadata.EntryPoint``."""

    name: str
    value: str
    dist: FakeDist
    loader: Callable[[], object]
    group: str = ENTRY_POINT_GROUP

    def load(self) -> object:
        return self.loader()


class RuntimeA(Runtime):
    pass


class RuntimeB(Runtime):
    pass


def module_plugin(name: str, runtime_name: str, cls: type[Runtime]) -> types.ModuleType:
    module = types.ModuleType(name)

    @hookimpl
    def kernel_register_runtimes(register: RegisterRuntime) -> None:
        register(runtime_name, cls)

    module.kernel_register_runtimes = kernel_register_runtimes  # type: ignore[attr-defined]
    return module


def broken() -> object:
    raise ModuleNotFoundError("No module named 'xgboost'")


@pytest.fixture
def installed(monkeypatch: pytest.MonkeyPatch) -> list[FakeEntryPoint]:
    eps = [
        FakeEntryPoint(
            "alpha",
            "kernel_alpha",
            FakeDist("kernel-alpha", "1.2.3"),
            lambda: module_plugin("kernel_alpha", "alpha", RuntimeA),
        ),
        FakeEntryPoint("broken", "kernel_broken", FakeDist("kernel-broken", "0.1"), broken),
        FakeEntryPoint(
            "beta",
            "kernel_beta",
            FakeDist("kernel-beta", "2.0"),
            lambda: module_plugin("kernel_beta", "beta", RuntimeB),
        ),
    ]

    def entry_points(**kwargs: Any) -> list[FakeEntryPoint]:
        assert kwargs == {"group": ENTRY_POINT_GROUP}
        return eps

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    return eps


def runtimes(environ: dict[str, str], autoload: bool | None = None) -> dict[str, str]:
    plugins = load_plugins(environ=environ, autoload=autoload)
    registry = RuntimeRegistry()
    plugins.register_runtimes(registry)
    return {r.name: r.plugin for r in registry}


def test_broken_plugin_is_skipped_and_named(
    installed: list[FakeEntryPoint], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, "kernel.plugins"):
        plugins = load_plugins(environ={})
    assert [p.name for p in plugins.loaded] == ["echo", "codecs", "alpha", "beta"]
    alpha = plugins.loaded[2]
    assert (alpha.distribution, alpha.version) == ("kernel-alpha", "1.2.3")
    (failure,) = plugins.failed
    assert failure.name == "broken"
    assert failure.distribution == "kernel-broken"
    assert "xgboost" in failure.error
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "'broken'" in logged
    assert "kernel-broken" in logged
    assert "xgboost" in logged
    assert runtimes({}) == {"echo": "echo", "alpha": "alpha", "beta": "beta"}


def test_allow_list_by_entry_point_or_distribution(installed: list[FakeEntryPoint]) -> None:
    assert runtimes({"KERNEL_PLUGINS": "alpha"}) == {"echo": "echo", "alpha": "alpha"}
    assert runtimes({"KERNEL_PLUGINS": "kernel-beta, broken"}) == {"echo": "echo", "beta": "beta"}
    assert runtimes({"KERNEL_PLUGINS": ""}) == {"echo": "echo"}  # empty: none


def test_block_list_includes_builtins(installed: list[FakeEntryPoint]) -> None:
    assert runtimes({"KERNEL_BLOCK_PLUGINS": "broken,echo"}) == {"alpha": "alpha", "beta": "beta"}
    plugins = load_plugins(environ={"KERNEL_BLOCK_PLUGINS": "broken"})
    assert plugins.failed == []  # a blocked plugin is never imported


def test_autoload_off(installed: list[FakeEntryPoint]) -> None:
    assert runtimes({"KERNEL_DISABLE_PLUGIN_AUTOLOAD": "1"}) == {"echo": "echo"}
    assert runtimes({}, autoload=False) == {"echo": "echo"}
    assert runtimes({"KERNEL_DISABLE_PLUGIN_AUTOLOAD": "1"}, autoload=True)["alpha"] == "alpha"


def test_duplicate_runtime_names_both_plugins(installed: list[FakeEntryPoint]) -> None:
    plugins = load_plugins([("mine", Plugin(alpha=Tagged))], environ={})
    with pytest.raises(PluginLoadError) as info:
        plugins.register_runtimes(RuntimeRegistry())
    assert "'alpha'" in str(info.value)
    assert "'mine'" in str(info.value)


def test_misspelled_hook_fails_startup() -> None:
    class Typo:
        @hookimpl
        def kernel_register_runtime(self, register: RegisterRuntime) -> None:
            pass

    with pytest.raises(PluginLoadError, match="typo"):
        load_plugins([("typo", Typo())], environ={}, autoload=False)


def test_wrong_hook_arguments_skip_that_plugin() -> None:
    class WrongArgs:
        @hookimpl
        def kernel_register_runtimes(self, registry: object) -> None:
            pass

    plugins = load_plugins([("wrong", WrongArgs())], environ={}, autoload=False)
    assert [f.name for f in plugins.failed] == ["wrong"]


def test_hook_kernel_register_runtimes_raising_skips_plugin() -> None:
    class Raises:
        @hookimpl
        def kernel_register_runtimes(self, register: RegisterRuntime) -> None:
            register("half", Tagged)
            raise ImportError("framework missing")

    plugins = load_plugins([("raises", Raises())], environ={}, autoload=False)
    registry = RuntimeRegistry()
    plugins.register_runtimes(registry)
    assert registry.names() == ["echo"]  # nothing of the failing plugin is kept
    assert "framework missing" in plugins.failed[0].error


def test_hook_kernel_register_codecs_raising_skips_plugin() -> None:
    from kernel.codecs import CodecRegistry
    from kernel.codecs.np import NumpyCodec

    class Half(NumpyCodec):
        content_type = "half"

    class Raises:
        @hookimpl
        def kernel_register_codecs(self, register: Callable[[object], None]) -> None:
            register(Half())
            raise ImportError("codec library missing")

    plugins = load_plugins([("raises", Raises())], environ={}, autoload=False)
    registry = CodecRegistry()
    plugins.register_codecs(registry)
    # The built-in codecs plugin registered the same way; nothing of the failing one is kept.
    assert registry.names() == ["base64", "datetime", "dict", "np", "pd", "str"]
    assert "codec library missing" in plugins.failed[0].error


class Lifecycle:
    def __init__(self) -> None:
        self.calls: list[str] = []

    @hookimpl
    def kernel_register_runtimes(self, register: RegisterRuntime) -> None:
        register("tagged", Tagged)

    @hookimpl
    def kernel_startup(self, kernel: Kernel) -> Any:
        async def started() -> None:
            self.calls.append(f"startup models={len(await kernel.repository_index())}")

        return started()

    @hookimpl
    def kernel_shutdown(self, kernel: Kernel) -> None:
        self.calls.append("shutdown")


@pytest.mark.anyio
async def test_hook_kernel_startup_and_shutdown(tmp_path: Path) -> None:
    write_model(tmp_path / "m", {"implementation": "tagged"})
    plugin = Lifecycle()
    async with make_kernel(tmp_path, plugin):
        # start-up runs before models are registered, with the kernel to act on.
        assert plugin.calls == ["startup models=0"]
    assert plugin.calls == ["startup models=0", "shutdown"]


@pytest.mark.anyio
async def test_hook_kernel_startup_error_names_plugin(tmp_path: Path) -> None:
    class Fails:
        @hookimpl
        def kernel_startup(self, kernel: Kernel) -> None:
            raise ConnectionError("no broker")

    kernel = make_kernel(tmp_path, Plugin(), Fails())
    with pytest.raises(PluginLoadError, match=r"'test1'.*no broker"):
        await kernel.start()
    await kernel.stop()


@pytest.mark.anyio
async def test_hook_kernel_shutdown_error_is_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    class Fails:
        @hookimpl
        def kernel_shutdown(self, kernel: Kernel) -> None:
            raise RuntimeError("flush failed")

    after = Lifecycle()
    with caplog.at_level(logging.ERROR, "kernel.plugins"):
        async with make_kernel(tmp_path, Fails(), after):
            pass
    assert "shutdown" in after.calls  # the others still shut down
    assert any("flush failed" in r.getMessage() for r in caplog.records)


def test_hook_kernel_register_routes() -> None:
    """Routes are collected per plugin, with their methods upper-cased and the planes given."""
    seen: list[object] = []

    async def endpoint(request: object) -> None: ...

    class Routes:
        @hookimpl
        def kernel_register_routes(self, register: Any, data: object, control: object) -> None:
            seen.extend([data, control])
            register("/a", endpoint)
            register("/b/{x}", endpoint, methods=["post", "PUT"])

    plugins = load_plugins([("routes", Routes())], autoload=False)
    data, control = object(), object()
    routes = plugins.register_routes(data, control)  # type: ignore[arg-type]
    assert seen == [data, control]
    assert [(r.plugin, r.path, r.methods) for r in routes] == [
        ("routes", "/a", ("GET",)),
        ("routes", "/b/{x}", ("POST", "PUT")),
    ]


def test_every_hook_has_a_test() -> None:
    from kernel import hookspecs

    hooks = [n for n in dir(hookspecs) if n.startswith("kernel_")]
    assert hooks
    source = Path(__file__).read_text()
    for hook in hooks:
        assert f"def test_hook_{hook}" in source, hook
