"""Real detectors fitted on generated data, saved with ``save_detector``, and the calls the tests
make to the runtime exactly as the kernel makes them."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from kernel import ModelParameters, ModelSettings
from kernel_alibi_detect import AlibiDetectRuntime
from protocol.messages import InferenceRequest, RequestOutput
from protocol.tensors import input_from_numpy

Array = np.ndarray[Any, Any]

#: Rows per reference set and per test batch.
N_REF = 400
N_TEST = 200
#: Categories of TabularDrift's / ChiSquareDrift's categorical columns.
CATEGORIES = 4


def reference(seed: int = 12) -> Array:
    """Three continuous features."""
    return np.random.default_rng(seed).normal(size=(N_REF, 3)).astype(np.float32)


def same(seed: int = 4, n: int = N_TEST) -> Array:
    """Fresh draws from the reference distribution: no drift."""
    return np.random.default_rng(seed).normal(size=(n, 3)).astype(np.float32)


def shifted(seed: int = 2, n: int = N_TEST) -> Array:
    """The reference distribution moved by one standard deviation: drift."""
    return same(seed, n) + np.float32(1.0)


def categorical(seed: int, n: int, skewed: bool = False) -> Array:
    """Two categorical columns (0..CATEGORIES-1); ``skewed`` puts most mass on category 0."""
    rng = np.random.default_rng(seed)
    p = [0.7, 0.1, 0.1, 0.1] if skewed else [0.25] * CATEGORIES
    return rng.choice(CATEGORIES, size=(n, 2), p=p).astype(np.float32)


def mixed(seed: int, n: int, drift: bool = False) -> Array:
    """Two continuous then two categorical columns (TabularDrift)."""
    rng = np.random.default_rng(seed)
    numeric = rng.normal(size=(n, 2)).astype(np.float32) + np.float32(1.0 if drift else 0.0)
    return np.hstack([numeric, categorical(seed + 100, n, skewed=drift)])


def save(detector: Any, folder: Path) -> Path:
    from alibi_detect.saving import save_detector

    logging.getLogger("alibi_detect").setLevel(logging.ERROR)
    save_detector(detector, folder)
    return folder


def settings(folder: Path, uri: str | None = None, name: str = "d", **extra: Any) -> ModelSettings:
    return ModelSettings(
        name=name,
        implementation="alibi-detect",
        path=str(folder),
        parameters=ModelParameters(uri=uri, extra=extra),
    )


async def load(folder: Path, uri: str | None = None, **extra: Any) -> AlibiDetectRuntime:
    """The runtime for the detector in ``folder`` (or ``folder/uri``), loaded."""
    runtime = AlibiDetectRuntime(settings(folder, uri, **extra))
    await runtime.load()
    return runtime


def request(x: Array, outputs: list[str] | None = None, **parameters: Any) -> InferenceRequest:
    return InferenceRequest(
        inputs=[input_from_numpy("x", x)],
        parameters=parameters or {},
        outputs=[RequestOutput(name=n) for n in outputs] if outputs is not None else [],
    )


async def infer(
    runtime: AlibiDetectRuntime, x: Array, outputs: list[str] | None = None, **parameters: Any
) -> tuple[dict[str, Array], dict[str, Any]]:
    """``({output name: array}, response parameters)``."""
    response = await runtime.predict(request(x, outputs, **parameters))
    arrays = {out.name: np.asarray(out.data).reshape(out.shape) for out in response.outputs}
    params = response.parameters if isinstance(response.parameters, dict) else {}
    return arrays, params


def assert_result_equal(arrays: dict[str, Array], data: dict[str, Any]) -> None:
    """The runtime's outputs are the detector's result ``data``: every non-None field, with
    its own values and dtype (scalars as ``[1]``)."""
    fields = {k: v for k, v in data.items() if v is not None}
    assert set(arrays) == set(fields)
    for name, value in fields.items():
        expected = np.asarray(value)
        expected = expected.reshape(1) if expected.ndim == 0 else expected
        assert arrays[name].dtype == expected.dtype, name
        np.testing.assert_array_equal(arrays[name], expected, err_msg=name)


def write_settings(folder: Path, content: dict[str, Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model-settings.json").write_text(json.dumps(content))
