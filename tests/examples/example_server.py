"""Serve an example folder the way its README tells a user to: plain ``kernel serve``, with the
CLI's default ``--workers``, and a server that must exit 0 when stopped."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))
import server_process
from server_process import Server

__all__ = ["EXAMPLES", "ROOT", "Server", "serve"]

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


@contextlib.contextmanager
def serve(models: Path, log_dir: Path, kernel: Path | None = None) -> Iterator[Server]:
    """``kernel serve models`` until the block ends (SIGTERM; SIGKILL only if that hangs).

    ``kernel`` is the command to run: this interpreter's environment's by default.
    """
    command = None if kernel is None else [str(kernel)]
    with server_process.serve(models, log_dir, workers=None, kernel=command) as server:
        yield server
    code = server.process.returncode
    assert code == 0, f"kernel serve exited with {code}:\n{server.output()}"
