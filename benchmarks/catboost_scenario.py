"""The CatBoost scenario: the same iris payload as the scikit-learn one, served by CatBoost.

    /work/venv/bin/python benchmarks/catboost_scenario.py [--seconds 2]

prints, for 1 and 1000 rows, the model's own in-process predict time (CatBoost's ``predict`` with
``prediction_type`` ``Class`` and ``Probability``, one thread, on a float32 matrix: what
``CatBoostRuntime`` calls) next to ``CatBoostRuntime.predict`` on a decoded request (the same
calls plus the runtime's request reading and output building), so the server's overhead on top
of the model is visible. ``write_model_repository`` and ``model_cpu_ms`` have the signatures of
``servers.write_model_repository`` and ``run.model_cpu_ms`` so ``run.py`` can load them for a
``--scenario catboost`` load run; the model is called ``iris`` and declares its outputs
(``predict``, ``predict_proba``) so clients that request every listed output ask for those two.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import numpy as np

MODEL = "iris"
OUTPUTS = ("predict", "predict_proba")


def write_model_repository(root: Path) -> Path:
    """Train a CatBoost iris classifier into ``root/iris`` (model.cbm + model-settings.json)."""
    from catboost import CatBoostClassifier
    from sklearn.datasets import load_iris

    x, y = load_iris(return_X_y=True)
    model = CatBoostClassifier(
        iterations=100, depth=6, random_seed=0, verbose=False, allow_writing_files=False
    ).fit(x, y)
    folder = root / MODEL
    folder.mkdir(parents=True, exist_ok=True)
    model.save_model(str(folder / "model.cbm"))
    settings = {
        "name": MODEL,
        "implementation": "catboost",
        "parameters": {"uri": "./model.cbm", "extra": {"thread_count": 1}},
        "outputs": [
            {"name": "predict", "datatype": "INT64", "shape": [-1]},
            {"name": "predict_proba", "datatype": "FP64", "shape": [-1, 3]},
        ],
    }
    (folder / "model-settings.json").write_text(json.dumps(settings, indent=2))
    return folder / "model.cbm"


def iris_rows(rows: int) -> np.ndarray[Any, Any]:
    """``rows`` iris rows, cycling through the data set (as ``wire.iris_rows``)."""
    from sklearn.datasets import load_iris

    data = np.asarray(load_iris().data, dtype=np.float64)
    return np.ascontiguousarray(data[np.arange(rows) % data.shape[0]])


def _cpu_ms(once: Callable[[], object], seconds: float) -> float:
    for _ in range(20):
        once()
    count = 0
    start = time.process_time()
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        once()
        count += 1
    return (time.process_time() - start) / count * 1e3


def model_cpu_ms(model_path: Path, rows: int, methods: list[str], seconds: float = 1.0) -> float:
    """CPU milliseconds CatBoost itself takes for ``methods`` on ``rows`` rows, as the runtime
    calls it (float32 input, one thread)."""
    from catboost import CatBoost

    model = CatBoost()
    model.load_model(str(model_path))
    kinds = {"predict": "Class", "predict_proba": "Probability", "predict_raw": "RawFormulaVal"}
    calls = [kinds[name] for name in methods if name in kinds]
    x = iris_rows(rows)

    def once() -> None:
        matrix = np.ascontiguousarray(x, dtype=np.float32)
        for kind in calls:
            model.predict(matrix, prediction_type=kind, thread_count=1)

    return _cpu_ms(once, seconds)


def runtime_cpu_ms(model_path: Path, rows: int, seconds: float = 1.0) -> float:
    """CPU milliseconds of ``CatBoostRuntime.predict`` for one decoded request of ``rows``."""
    from kernel import ModelParameters, ModelSettings
    from kernel_catboost import CatBoostRuntime
    from protocol.messages import InferenceRequest, RequestOutput
    from protocol.tensors import input_from_numpy

    settings = ModelSettings(
        name=MODEL,
        implementation="catboost",
        path=str(model_path.parent),
        parameters=ModelParameters(uri=model_path.name, extra={"thread_count": 1}),
    )
    runtime = CatBoostRuntime(settings)
    asyncio.run(runtime.load())
    request = InferenceRequest(
        inputs=[input_from_numpy("input-0", iris_rows(rows))],
        outputs=[RequestOutput(name=name) for name in OUTPUTS],
    )
    loop = asyncio.new_event_loop()
    try:
        return _cpu_ms(lambda: loop.run_until_complete(runtime.predict(request)), seconds)
    finally:
        loop.close()


def main() -> None:
    parser = argparse.ArgumentParser(description="CatBoost in-process predict times")
    parser.add_argument("--seconds", type=float, default=2.0, help="measured seconds per row")
    seconds = parser.parse_args().seconds
    with TemporaryDirectory(prefix="kernel-catboost-bench-") as tmp:
        path = write_model_repository(Path(tmp))
        print(
            "| rows | CatBoost predict + predict_proba, ms CPU | CatBoostRuntime.predict, ms CPU |"
        )
        print("|---:|---:|---:|")
        for rows in (1, 1000):
            own = model_cpu_ms(path, rows, list(OUTPUTS), seconds)
            served = runtime_cpu_ms(path, rows, seconds)
            print(f"| {rows} | {own:.3f} | {served:.3f} |")


if __name__ == "__main__":
    main()
