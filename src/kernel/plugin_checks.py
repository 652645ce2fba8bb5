"""Checks of a plugin's boundary, for its tests: the entry point that names it, what its
``kernel_register_runtimes`` hook registers, and what importing it imports.

Re-exported by ``kernel.testing``::

    from kernel.testing import entry_point, imported_with, registered_runtimes

    def test_boundary() -> None:
        assert entry_point("myplugin").load() is kernel_myplugin
        assert registered_runtimes(kernel_myplugin) == [("myplugin", MyRuntime)]
        assert imported_with("kernel_myplugin", "myframework") == []  # imported at load only
"""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import EntryPoint, entry_points

import pluggy

from kernel import hookspecs
from kernel.plugins import ENTRY_POINT_GROUP
from kernel.runtime import Runtime

__all__ = ["entry_point", "imported_with", "registered_runtimes"]


def entry_point(name: str) -> EntryPoint:
    """The one installed ``kernel.plugins`` entry point called ``name``.

    Raises ``LookupError`` when there is none or more than one.
    """
    found = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == name]
    if len(found) != 1:
        raise LookupError(f"{len(found)} {ENTRY_POINT_GROUP!r} entry points are named {name!r}")
    return found[0]


def registered_runtimes(plugin: object) -> list[tuple[str, type[Runtime]]]:
    """What ``plugin``'s ``kernel_register_runtimes`` registers, in order, through a pluggy
    manager holding the kernel's hook specifications and ``plugin`` alone (so a hook whose
    signature does not match the specification fails here, as at start-up)."""
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    pm.register(plugin)
    pm.check_pending()
    registered: list[tuple[str, type[Runtime]]] = []

    def register(name: str, runtime_class: type[Runtime]) -> None:
        registered.append((name, runtime_class))

    pm.hook.kernel_register_runtimes(register=register)
    return registered


def imported_with(module: str, *watched: str) -> list[str]:
    """Which of the ``watched`` modules importing ``module`` imports, in a fresh interpreter
    (this one has imported too much already to tell)."""
    code = (
        "import importlib, json, sys\n"
        f"importlib.import_module({module!r})\n"
        f"print(json.dumps([name for name in {list(watched)!r} if name in sys.modules]))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"importing {module!r} failed:\n{done.stderr}")
    found: list[str] = json.loads(done.stdout)
    return found
