"""Running this checkout's ``kernel`` command in a subprocess, for the CLI tests: only the
built-in runtimes, none of the operator's ``KERNEL_*`` settings."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))
from server_process import clean_env, free_port

__all__ = ["KERNEL", "cli_env", "free_port"]

KERNEL = [sys.executable, "-m", "kernel.cli"]


def cli_env(**extra: str) -> dict[str, str]:
    """The environment without ``KERNEL_*`` variables, with only the built-in runtimes (fast
    and hermetic: no installed plugin is imported), plus ``extra``."""
    return clean_env(KERNEL_DISABLE_PLUGIN_AUTOLOAD="1", **extra)
