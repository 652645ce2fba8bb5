from __future__ import annotations

import pickle
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import pytest
from core_helpers import BrokenLoad, Tagged

from kernel import Runtime
from kernel.errors import PluginLoadError, RuntimeNotFound
from kernel.registry import RuntimeRegistry


@pytest.fixture
def registry() -> RuntimeRegistry:
    registry = RuntimeRegistry()
    registry.add("tagged", Tagged, "plugin-a")
    return registry


@pytest.fixture
def fake_sklearn_package() -> Iterator[type[Runtime]]:
    """A plugin package ``kernel_sklearn`` re-exporting its runtime from a submodule, as if the
    plugin had been loaded (it is already imported then)."""

    class SKLearnRuntime(Runtime):
        pass

    SKLearnRuntime.__module__ = "kernel_sklearn.runtime"
    SKLearnRuntime.__qualname__ = "SKLearnRuntime"
    package = types.ModuleType("kernel_sklearn")
    package.SKLearnRuntime = SKLearnRuntime  # type: ignore[attr-defined]
    saved = sys.modules.get("kernel_sklearn")
    sys.modules["kernel_sklearn"] = package
    yield SKLearnRuntime
    if saved is None:
        del sys.modules["kernel_sklearn"]
    else:
        sys.modules["kernel_sklearn"] = saved


def test_by_name_and_class_path(registry: RuntimeRegistry, tmp_path: Path) -> None:
    assert registry.resolve("tagged", tmp_path) is Tagged
    assert registry.resolve(f"{Tagged.__module__}.Tagged", tmp_path) is Tagged
    assert registry.name_of(Tagged) == "tagged"


def test_reexported_class_path_and_mlserver_alias(
    fake_sklearn_package: type[Runtime], tmp_path: Path
) -> None:
    registry = RuntimeRegistry()
    registry.add("sklearn", fake_sklearn_package, "sklearn")
    assert registry.resolve("kernel_sklearn.SKLearnRuntime", tmp_path) is fake_sklearn_package
    assert registry.resolve("kernel_sklearn.runtime.SKLearnRuntime", tmp_path) is (
        fake_sklearn_package
    )
    assert registry.resolve("mlserver_sklearn.SKLearnModel", tmp_path) is fake_sklearn_package


def test_mlserver_alias_not_installed_names_package(
    registry: RuntimeRegistry, tmp_path: Path
) -> None:
    with pytest.raises(RuntimeNotFound) as info:
        registry.resolve("mlserver_xgboost.XGBoostModel", tmp_path)
    message = str(info.value)
    assert "pip install kernel[xgboost]" in message
    assert "installed runtimes: tagged" in message
    with pytest.raises(RuntimeNotFound, match=r"kernel\[alibi-detect\]"):
        registry.resolve("alibi-detect", tmp_path)
    with pytest.raises(RuntimeNotFound, match=r"kernel\[catboost\]"):
        registry.resolve("kernel_catboost.CatBoostRuntime", tmp_path)


def test_unknown_lists_installed(registry: RuntimeRegistry, tmp_path: Path) -> None:
    with pytest.raises(RuntimeNotFound) as info:
        registry.resolve("tensorflow", tmp_path)
    assert "'tensorflow'" in str(info.value)
    assert "installed runtimes: tagged" in str(info.value)
    # Never a raw import of a package by name.
    with pytest.raises(RuntimeNotFound):
        registry.resolve("json.JSONDecoder", tmp_path)


_CUSTOM = """
from kernel import Runtime

LABEL = {label!r}

class MyRuntime(Runtime):
    label = LABEL

class Picklable:
    pass

class NotARuntime:
    pass
"""


def test_custom_py_files_with_same_name_do_not_collide(
    registry: RuntimeRegistry, tmp_path: Path
) -> None:
    before = list(sys.path)
    classes = []
    for label in ("first", "second"):
        folder = tmp_path / label
        folder.mkdir()
        (folder / "models.py").write_text(_CUSTOM.format(label=label))
        classes.append(registry.resolve("models.MyRuntime", folder))
    first, second = classes
    assert first is not second
    assert (first.label, second.label) == ("first", "second")  # type: ignore[attr-defined]
    assert first.__module__ != second.__module__
    assert "models" not in sys.modules or sys.modules["models"] is not sys.modules[first.__module__]
    assert sys.path == before
    # Objects of the file's classes pickle: the module is findable by its unique name.
    picklable = sys.modules[first.__module__].Picklable
    assert type(pickle.loads(pickle.dumps(picklable()))) is picklable


def test_custom_py_errors(registry: RuntimeRegistry, tmp_path: Path) -> None:
    (tmp_path / "models.py").write_text(_CUSTOM.format(label="x"))
    with pytest.raises(RuntimeNotFound, match=r"not a subclass of kernel\.Runtime"):
        registry.resolve("models.NotARuntime", tmp_path)
    with pytest.raises(RuntimeNotFound, match="has no 'Missing'"):
        registry.resolve("models.Missing", tmp_path)
    (tmp_path / "bad.py").write_text("raise ImportError('needs torch')")
    with pytest.raises(RuntimeNotFound, match="needs torch"):
        registry.resolve("bad.Model", tmp_path)


def test_duplicate_name_names_both_plugins(registry: RuntimeRegistry) -> None:
    with pytest.raises(PluginLoadError) as info:
        registry.add("tagged", BrokenLoad, "plugin-b")
    assert "plugin-a" in str(info.value)
    assert "plugin-b" in str(info.value)


def test_not_a_runtime_class(registry: RuntimeRegistry) -> None:
    with pytest.raises(PluginLoadError, match="plugin-c"):
        registry.add("x", dict, "plugin-c")  # type: ignore[arg-type]
