"""Shared memory for tensor bytes: segments are mmap'd files in one folder per pool.

Files (in ``/dev/shm`` where it exists) rather than ``multiprocessing.shared_memory``: the
pool owns the folder and deletes it, whatever happened to the workers, and no resource tracker
process unlinks a segment behind its owner's back. A writer allocates segments from its own
``Arena`` and reuses them; a reader maps a peer's segment once by name (``Mapped``).
"""

from __future__ import annotations

import contextlib
import mmap
import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Final

__all__ = ["Arena", "Mapped", "Segment", "shared_folder", "sweep_stale"]

#: Smallest segment: below this, tensors travel inline in the message.
MIN_SEGMENT: Final = 1 << 16


def shared_folder(prefix: str) -> Path:
    """A fresh private folder for segments, in memory (``/dev/shm``) when the system has it.

    The folder's name carries this process's pid (``<prefix><pid>-<random>``). Its owner deletes
    it on close, but a process killed with SIGKILL cannot, and ``/dev/shm`` is RAM: so each new
    folder first sweeps the ones with the same prefix whose owner process no longer exists.
    """
    usable = os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK)
    base = Path("/dev/shm") if usable else Path(tempfile.gettempdir())
    sweep_stale(base, prefix)
    return Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-", dir=base))


def sweep_stale(base: Path, prefix: str) -> list[Path]:
    """Delete ``base/<prefix><pid>-*`` folders of ours whose process ``pid`` is gone."""
    removed = []
    uid = os.getuid()
    for path in base.glob(f"{prefix}*-*"):
        pid = path.name[len(prefix) :].split("-", 1)[0]
        if not pid.isdigit() or _alive(int(pid)):
            continue
        with contextlib.suppress(OSError):
            if path.is_dir() and not path.is_symlink() and path.stat().st_uid == uid:
                shutil.rmtree(path)
                removed.append(path)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: not ours to judge
    return True


class Segment:
    """One writable mapping of a file in the folder."""

    __slots__ = ("mm", "name", "size")

    def __init__(self, name: str, size: int, mm: mmap.mmap) -> None:
        self.name = name
        self.size = size
        self.mm = mm


def _size_class(size: int) -> int:
    return max(MIN_SEGMENT, 1 << (max(size, 1) - 1).bit_length())


class Arena:
    """Segments this process writes, reused by size class (powers of two). Thread-safe."""

    def __init__(self, folder: Path, prefix: str) -> None:
        self.folder = folder
        self.prefix = prefix
        self._free: dict[int, list[Segment]] = {}
        self._all: dict[str, Segment] = {}
        self._count = 0
        self._lock = threading.Lock()

    def acquire(self, size: int) -> Segment:
        """A segment of at least ``size`` bytes, not in use by anyone."""
        cls = _size_class(size)
        with self._lock:
            free = self._free.get(cls)
            if free:
                return free.pop()
            self._count += 1
            name = f"{self.prefix}{self._count}-{cls}"
        path = self.folder / name
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.ftruncate(fd, cls)
            mm = mmap.mmap(fd, cls)
        finally:
            os.close(fd)
        segment = Segment(name, cls, mm)
        with self._lock:
            self._all[name] = segment
        return segment

    def release(self, segment: Segment | str) -> None:
        """Give a segment back for reuse (by object or by name)."""
        with self._lock:
            seg = self._all.get(segment) if isinstance(segment, str) else segment
            if seg is not None:
                self._free.setdefault(seg.size, []).append(seg)

    def close(self) -> None:
        """Unmap and delete every segment of this arena."""
        with self._lock:
            segments, self._all, self._free = list(self._all.values()), {}, {}
        for seg in segments:
            # A numpy view may still exist; then the mapping goes away with it.
            with contextlib.suppress(BufferError):
                seg.mm.close()
            (self.folder / seg.name).unlink(missing_ok=True)


class Mapped:
    """Read access to segments another process writes, each mapped once by name."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._maps: dict[str, mmap.mmap] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> mmap.mmap:
        mm = self._maps.get(name)
        if mm is not None:
            return mm
        if "/" in name or name.startswith("."):
            raise ValueError(f"bad segment name {name!r}")
        with self._lock:
            mm = self._maps.get(name)
            if mm is None:
                fd = os.open(self.folder / name, os.O_RDWR)
                try:
                    mm = self._maps[name] = mmap.mmap(fd, 0)
                finally:
                    os.close(fd)
        return mm

    def forget(self, prefix: str) -> None:
        """Drop (and unmap) the mappings of segments whose names start with ``prefix``."""
        with self._lock:
            names = [n for n in self._maps if n.startswith(prefix)]
            maps = [self._maps.pop(n) for n in names]
        for mm in maps:
            with contextlib.suppress(BufferError):
                mm.close()
