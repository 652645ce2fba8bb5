"""Windowed drift: instances accumulate across requests; the test runs each time a window fills.

The kernel may run several ``predict`` calls at once in threads, so adding instances, cutting
full windows and running their tests happen under one lock: every instance lands in exactly one
window, in arrival order, and each window is tested once. A request may fill several windows
(each is tested, in order); what is left starts the next window.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Window", "WindowState"]

Array = np.ndarray[Any, Any]


@dataclass(frozen=True)
class WindowState:
    """What a caller is told after its instances were added."""

    latest: Any  # the latest completed test's result (``None`` before the first)
    count: int  # instances in the current, unfinished window
    tests: int  # windows tested so far
    tested_now: tuple[Any, ...]  # results of the windows this call completed, in order


class Window:
    """A window of ``size`` instances over the requests of one model."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._parts: list[Array] = []
        self._count = 0
        self._tests = 0
        self._latest: Any = None

    def add(self, rows: Array, test: Callable[[Array], Any]) -> WindowState:
        """Add ``rows`` (instances along the first axis) and run ``test`` on every window they
        complete. ``test`` raising drops that window's instances (they cannot be tested) and
        re-raises to this caller; the instances after it stay for the next window."""
        done: list[Any] = []
        with self._lock:
            if len(rows):
                self._parts.append(rows)
                self._count += len(rows)
            while self._count >= self.size:
                buffered = self._parts[0] if len(self._parts) == 1 else np.concatenate(self._parts)
                window, rest = buffered[: self.size], buffered[self.size :]
                self._parts = [rest] if len(rest) else []
                self._count = len(rest)
                result = test(window)
                self._latest = result
                self._tests += 1
                done.append(result)
            return WindowState(self._latest, self._count, self._tests, tuple(done))

    @property
    def count(self) -> int:
        """Instances in the current window."""
        with self._lock:
            return self._count
