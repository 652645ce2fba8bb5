"""Helpers the plugin's tests share (a module of its own: test directories have no packages,
so a second ``conftest`` elsewhere in the repository must not shadow these)."""

from __future__ import annotations

import pickle
from collections.abc import Awaitable, Callable
from pathlib import Path

import joblib

from kernel_sklearn import SKLearnRuntime

#: ``await load_runtime(estimator, file=..., uri=..., extra=..., **settings_fields)``
LoadRuntime = Callable[..., Awaitable[SKLearnRuntime]]


def save(estimator: object, path: Path) -> None:
    """Save with joblib, or plain pickle for ``.pkl`` files (both are what users have)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".pkl":
        path.write_bytes(pickle.dumps(estimator))
    else:
        joblib.dump(estimator, path)
