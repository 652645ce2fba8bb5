"""Helpers the plugin's tests share (a module of its own: test directories have no packages,
so a second ``conftest`` elsewhere in the repository must not shadow these)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from catboost import CatBoost, Pool

from kernel_catboost import CatBoostRuntime
from protocol.datatypes import datatype_for_dtype
from protocol.messages import InferenceRequest, RequestInput, RequestOutput

#: ``await load_runtime(trained, fmt="cbm", file=None, uri=None, extra=None, **settings_fields)``
LoadRuntime = Callable[..., Awaitable[CatBoostRuntime]]

#: Settings every test model is trained with: small, repeatable, and no ``catboost_info``
#: folder written into the working directory.
TRAIN: dict[str, Any] = {
    "iterations": 20,
    "depth": 3,
    "random_seed": 0,
    "thread_count": 1,
    "verbose": False,
    "allow_writing_files": False,
}


@dataclass
class Trained:
    """A fitted model, the pool it was fit on (JSON export of categorical models needs it),
    and rows to predict on in the form CatBoost takes them."""

    model: CatBoost
    pool: Pool
    rows: Any


def save(trained: Trained, path: Path, fmt: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pool = trained.pool if fmt == "json" else None
    trained.model.save_model(str(path), format=fmt, pool=pool)


def tensor(name: str, array: np.ndarray[Any, Any]) -> RequestInput:
    if array.dtype.kind in "OUS":
        data = np.array([v.encode() if isinstance(v, str) else v for v in array.reshape(-1)])
        return RequestInput(
            name=name, shape=list(array.shape), datatype="BYTES", data=data.astype(object)
        )
    return RequestInput(
        name=name,
        shape=list(array.shape),
        datatype=datatype_for_dtype(array.dtype).name,
        data=array,
    )


def request(inputs: list[RequestInput], outputs: list[str] | None = None) -> InferenceRequest:
    req = InferenceRequest(inputs=inputs)
    if outputs is not None:
        req.outputs = [RequestOutput(name=name) for name in outputs]
    return req
