"""``kernel init NAME``: scaffold a runtime plugin distribution in ``./NAME/``.

The distribution is ``kernel-NAME``, its package ``kernel_NAME`` and its runtime ``NAME``. The
files come from ``templates/`` (``string.Template`` text: ``$name``, ``$package``,
``$distribution``, ``$title``); a template path's ``PACKAGE`` and ``NAME`` parts are replaced
too, and the ``.tmpl`` suffix is dropped (so that linters and pytest leave the templates alone).
"""

from __future__ import annotations

import re
import string
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Final

from kernel.errors import KernelError

__all__ = ["ScaffoldError", "scaffold"]

#: A runtime name that is also a valid Python identifier once ``-`` becomes ``_``.
NAME_PATTERN: Final = re.compile(r"[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*")


class ScaffoldError(KernelError):
    """``kernel init`` cannot scaffold: a bad name or an existing folder."""


def _templates(folder: Traversable, prefix: str = "") -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for item in sorted(folder.iterdir(), key=lambda t: t.name):
        relative = f"{prefix}{item.name}"
        if item.is_dir():
            found += _templates(item, relative + "/")
        elif item.name.endswith(".tmpl"):
            found.append((relative.removesuffix(".tmpl"), item.read_text(encoding="utf-8")))
    return found


def scaffold(name: str, parent: str | Path = ".") -> Path:
    """Write the plugin distribution for runtime ``name`` into ``parent/name``; its path.

    Raises ``ScaffoldError`` for a name that is not lower-case letters, digits, ``-`` and
    ``_`` starting with a letter, or when ``parent/name`` already exists.
    """
    if not NAME_PATTERN.fullmatch(name):
        raise ScaffoldError(
            f"plugin name {name!r} must be lower-case letters, digits, '-' or '_', starting"
            " with a letter (it becomes the runtime name and part of a Python package name)"
        )
    target = Path(parent) / name
    if target.exists():
        raise ScaffoldError(f"{str(target)!r} already exists; choose another name or folder")
    package = "kernel_" + name.replace("-", "_")
    values = {
        "name": name,
        "package": package,
        "distribution": f"kernel-{name}",
        "title": name.replace("-", " ").replace("_", " ").title().replace(" ", ""),
    }
    files = [
        (path.replace("PACKAGE", package).replace("NAME", name), text)
        for path, text in _templates(resources.files(__name__) / "templates")
    ]
    for path, text in files:
        out = target / path
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(string.Template(text).substitute(values), encoding="utf-8")
    return target
