"""Saving an online detector's state so that a restart continues where it stopped.

The detector writes its own state (``save_state`` / ``load_state``: the time step ``t`` and its
test windows). Saving is atomic at the folder level: the state is written into a fresh
temporary folder next to the target and synced, the previous state folder is renamed aside,
the new one renamed into place, and the old one removed. A crash at any point leaves either the
previous state or the new one complete:

- while writing: the target folder is untouched; the temporary folder is removed next time;
- between the two renames: the target is missing and ``<name>.old`` holds the previous state,
  which ``restore`` renames back.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["StateStore"]

logger = logging.getLogger("kernel_alibi_detect")


def _fsync(path: Path) -> None:
    """Flush a file's or folder's data and entry to disk (folders: where the OS allows it)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on folders; the rename is still atomic
    finally:
        os.close(fd)


class StateStore:
    """The state folder ``path`` of one model's online detector."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._old = path.with_name(path.name + ".old")
        self._tmp_prefix = path.name + ".tmp-"

    def _clean_temporaries(self) -> None:
        if not self.path.parent.is_dir():
            return
        for leftover in self.path.parent.glob(self._tmp_prefix + "*"):
            shutil.rmtree(leftover, ignore_errors=True)

    def restore(self, detector: Any) -> bool:
        """Load the saved state into ``detector``; ``False`` when there is none.

        Finishes a save that a crash interrupted between its renames (the previous state is put
        back) and removes temporaries a crash left behind.
        """
        if not self.path.exists() and self._old.is_dir():
            os.rename(self._old, self.path)
        self._clean_temporaries()
        if not self.path.is_dir():
            return False
        detector.load_state(self.path)
        return True

    def save(self, detector: Any) -> None:
        """Write ``detector``'s state atomically (see the module docstring)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=self._tmp_prefix, dir=self.path.parent))
        try:
            detector.save_state(tmp)
            for file in tmp.rglob("*"):
                if file.is_file():
                    _fsync(file)
            _fsync(tmp)
            if self.path.exists():
                if self._old.exists():
                    shutil.rmtree(self._old)
                os.rename(self.path, self._old)
            os.rename(tmp, self.path)
            _fsync(self.path.parent)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        shutil.rmtree(self._old, ignore_errors=True)
