"""Fresh virtualenvs built with uv for tests that need another environment than their own
(another numpy, a plugin installed from its wheel). uv's cache makes a rebuild take seconds."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from uv import find_uv_bin


def build_venv(env: Path, *requirements: str | Path) -> Path:
    """A virtualenv at ``env`` on this interpreter's Python with ``requirements`` installed
    (``uv pip install`` arguments, e.g. ``"-e", checkout``); its folder."""
    uv = find_uv_bin()
    _run(uv, "venv", "-q", "--python", sys.executable, env)
    _run(uv, "pip", "install", "-q", "--python", env / "bin" / "python", *requirements)
    return env


def _run(*args: str | Path) -> None:
    done = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, f"{args} failed:\n{done.stdout}\n{done.stderr}"
