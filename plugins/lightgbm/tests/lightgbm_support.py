"""Helpers the plugin's tests share (a module of its own: test directories have no packages,
so a second ``conftest`` elsewhere in the repository must not shadow these)."""

from __future__ import annotations

import pickle
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import joblib
import lightgbm as lgb
import numpy as np

from kernel import ModelParameters, ModelSettings
from kernel_lightgbm import LightGBMRuntime
from protocol.datatypes import datatype_for_dtype
from protocol.messages import InferenceRequest, RequestInput, RequestOutput, ResponseOutput

#: ``await load_runtime(model, file=..., uri=..., extra=..., **settings_fields)``
LoadRuntime = Callable[..., Awaitable[LightGBMRuntime]]

#: The binary model's feature names.
FEATURES = ["age", "income", "tenure", "visits", "score"]

#: Rows every test predicts: the first 7 of a fresh draw from the training distribution,
#: with one missing value (LightGBM's ``NaN``) in the last row.
ROWS = np.random.default_rng(7).normal(size=(7, 5))
ROWS[6, 2] = np.nan


def save(model: Any, path: Path) -> None:
    """A ``Booster`` saved in text format for ``.txt``/``.bst``/``.model`` (and any other name
    not below); joblib for ``.joblib``; plain pickle for ``.pkl``/``.pickle``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".joblib":
        joblib.dump(model, path)
    elif path.suffix in (".pkl", ".pickle"):
        path.write_bytes(pickle.dumps(model))
    else:
        booster = model if isinstance(model, lgb.Booster) else model.booster_
        booster.save_model(str(path))


def tensor(name: str, array: np.ndarray[Any, Any]) -> RequestInput:
    return RequestInput(
        name=name,
        shape=list(array.shape),
        datatype=datatype_for_dtype(array.dtype).name,
        data=array,
    )


def request(*arrays: np.ndarray[Any, Any], outputs: list[str] | None = None) -> InferenceRequest:
    req = InferenceRequest(inputs=[tensor(f"input-{i}", a) for i, a in enumerate(arrays)])
    if outputs is not None:
        req.outputs = [RequestOutput(name=name) for name in outputs]
    return req


def by_name(outputs: list[ResponseOutput]) -> dict[str, np.ndarray[Any, Any]]:
    return {output.name: np.asarray(output.data) for output in outputs}


def settings(folder: Path, uri: str | None = None, **fields: Any) -> ModelSettings:
    extra = fields.pop("extra", None) or {}
    return ModelSettings(
        name=fields.pop("name", "m"),
        implementation="lightgbm",
        path=str(folder),
        parameters=ModelParameters(uri=uri, version="2", extra=extra),
        **fields,
    )
