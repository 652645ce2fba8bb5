"""Helpers the plugin's tests share (a module of its own: test directories have no packages,
so a second ``conftest`` elsewhere in the repository must not shadow these)."""

from __future__ import annotations

import pickle
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import joblib
import numpy as np

from kernel_xgboost import XGBoostRuntime
from protocol.datatypes import datatype_for_dtype
from protocol.messages import InferenceRequest, RequestInput, RequestOutput

#: ``await load_runtime(model, file=..., uri=..., extra=..., **settings_fields)``
LoadRuntime = Callable[..., Awaitable[XGBoostRuntime]]

NATIVE_SUFFIXES = (".json", ".ubj", ".bst", ".model")


def save(model: Any, path: Path) -> None:
    """Native formats with ``save_model`` (a ``Booster`` or a wrapper), pickles otherwise."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix in NATIVE_SUFFIXES:
        model.save_model(str(path))
    elif path.suffix == ".pkl":
        path.write_bytes(pickle.dumps(model))
    else:
        joblib.dump(model, path)


def tensor(name: str, array: np.ndarray[Any, Any]) -> RequestInput:
    return RequestInput(
        name=name,
        shape=list(array.shape),
        datatype=datatype_for_dtype(array.dtype).name,
        data=array,
    )


def request(
    *arrays: np.ndarray[Any, Any], outputs: list[str] | None = None, names: list[str] | None = None
) -> InferenceRequest:
    names = names or [f"input-{i}" for i in range(len(arrays))]
    req = InferenceRequest(inputs=[tensor(n, a) for n, a in zip(names, arrays, strict=True)])
    if outputs is not None:
        req.outputs = [RequestOutput(name=name) for name in outputs]
    return req
