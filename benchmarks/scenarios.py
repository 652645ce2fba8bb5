"""One benchmark scenario per runtime: the iris model trained with each framework.

Every scenario serves the same request (``input-0``, FP64, ``[rows, 4]`` iris rows), so the
ceilings, the clients and the bytes sent are the same whatever the framework. A scenario is two
functions:

- ``write(root)`` trains the model into ``root/iris`` (model file + ``model-settings.json``) and
  returns the model file's path;
- ``model_cpu_ms(path, rows, outputs)``: the CPU milliseconds the framework itself takes, in
  this process and without kernel, to compute ``outputs`` on ``rows`` rows, making the calls the
  runtime makes (same threads, same dtype). ``run.py`` subtracts it from kernel's CPU per request.

The boosted-tree scenarios declare their inputs and only ``predict`` and ``predict_proba`` as
outputs in model-settings: perf_analyzer requests every output the metadata lists, and the
runtimes would otherwise list SHAP contributions and leaf indices, which no client of this
benchmark wants. The scikit-learn scenario keeps the runtime's own metadata (four outputs), as
in every sklearn run recorded so far.

    /work/venv/bin/python benchmarks/scenarios.py [--scenario all|sklearn|xgboost|...]

prints, per scenario and rows, the model's own CPU time next to the runtime's ``predict`` on a
decoded request (the same calls plus reading the request and building the response).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import numpy as np
import wire

Array = np.ndarray[Any, Any]
TREE_OUTPUTS = ("predict", "predict_proba")


def cpu_ms(once: Callable[[], object], rounds: int = 5) -> float:
    """CPU milliseconds per ``once()``: median of ``rounds`` 0.2 s rounds after a warm-up, so
    one burst from a neighbour on a shared machine does not set the figure."""
    for _ in range(20):
        once()
    per_call = []
    for _ in range(rounds):
        count = 0
        start = time.process_time()
        deadline = time.perf_counter() + 0.2
        while time.perf_counter() < deadline:
            once()
            count += 1
        per_call.append((time.process_time() - start) / count * 1e3)
    return float(statistics.median(per_call))


def _iris() -> tuple[Array, Array]:
    from sklearn.datasets import load_iris

    x, y = load_iris(return_X_y=True)
    return np.asarray(x), np.asarray(y)


def _write_settings(
    root: Path, implementation: str, uri: str, extra: dict[str, Any], outputs: dict[str, Any]
) -> Path:
    """``root/iris/model-settings.json``; ``outputs`` maps declared output name -> (datatype,
    shape), empty to keep the runtime's own metadata."""
    settings: dict[str, Any] = {
        "name": wire.MODEL,
        "implementation": implementation,
        "parameters": {"uri": f"./{uri}", **({"extra": extra} if extra else {})},
    }
    if outputs:
        # The input as every scenario sends it (FP64, as the sklearn runtime declares it), so
        # perf_analyzer sends kernel the same bytes it sends the ceilings.
        settings["inputs"] = [{"name": wire.INPUT, "datatype": "FP64", "shape": [-1, 4]}]
        settings["outputs"] = [
            {"name": name, "datatype": datatype, "shape": shape}
            for name, (datatype, shape) in outputs.items()
        ]
    folder = root / wire.MODEL
    (folder / "model-settings.json").write_text(json.dumps(settings, indent=2))
    return folder / uri


def _folder(root: Path) -> Path:
    folder = root / wire.MODEL
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# -- scikit-learn: LogisticRegression, joblib ----------------------------------------------


def write_sklearn(root: Path) -> Path:
    """The iris LogisticRegression as ``model.joblib``; the runtime's own metadata."""
    import joblib
    from sklearn.linear_model import LogisticRegression

    x, y = _iris()
    joblib.dump(LogisticRegression(max_iter=1000).fit(x, y), _folder(root) / "model.joblib")
    return _write_settings(root, "sklearn", "model.joblib", {}, {})


def sklearn_cpu_ms(path: Path, rows: int, outputs: list[str]) -> float:
    """One call of each requested method of the estimator (what ``SKLearnRuntime`` does)."""
    import joblib

    model = joblib.load(path)
    calls = [getattr(model, name) for name in outputs if hasattr(model, name)]
    x = wire.iris_rows(rows)
    return cpu_ms(lambda: [call(x) for call in calls])


# -- XGBoost: XGBClassifier, UBJSON ---------------------------------------------------------


def write_xgboost(root: Path) -> Path:
    """XGBClassifier(n_estimators=100, max_depth=6) as ``model.ubj``, one thread per call."""
    from xgboost import XGBClassifier

    x, y = _iris()
    model = XGBClassifier(n_estimators=100, max_depth=6, random_state=0).fit(x, y)
    model.save_model(str(_folder(root) / "model.ubj"))
    outputs = {"predict": ("INT64", [-1]), "predict_proba": ("FP32", [-1, 3])}
    return _write_settings(root, "xgboost", "model.ubj", {"nthread": 1}, outputs)


def xgboost_cpu_ms(path: Path, rows: int, outputs: list[str]) -> float:
    """``Booster.inplace_predict`` on the FP64 matrix (one call shared by labels and
    probabilities, labels by ``argmax``), one thread: as ``XGBoostRuntime``."""
    import xgboost

    booster = xgboost.Booster()
    booster.load_model(str(path))
    booster.set_param({"nthread": 1})
    x = wire.iris_rows(rows)
    labels = "predict" in outputs

    def once() -> None:
        proba = booster.inplace_predict(x, predict_type="value", validate_features=False)
        if labels:
            np.argmax(proba, axis=1).astype(np.int64)

    return cpu_ms(once)


# -- LightGBM: Booster, text model ----------------------------------------------------------


def write_lightgbm(root: Path) -> Path:
    """A 100-round multiclass Booster as ``model.txt``, one thread per call."""
    import lightgbm as lgb

    x, y = _iris()
    params = {
        "objective": "multiclass",
        "num_class": 3,
        "num_leaves": 15,
        "min_data_in_leaf": 5,
        "verbose": -1,
        "seed": 0,
    }
    booster = lgb.train(params, lgb.Dataset(x, y), num_boost_round=100)
    booster.save_model(str(_folder(root) / "model.txt"))
    outputs = {"predict": ("INT64", [-1]), "predict_proba": ("FP64", [-1, 3])}
    return _write_settings(root, "lightgbm", "model.txt", {"num_threads": 1}, outputs)


def lightgbm_cpu_ms(path: Path, rows: int, outputs: list[str]) -> float:
    """One ``Booster.predict`` (probabilities) shared by both outputs, labels by ``argmax``,
    one thread: as ``LightGBMRuntime``."""
    import lightgbm as lgb

    booster = lgb.Booster(model_file=str(path))
    x = wire.iris_rows(rows)
    labels = "predict" in outputs

    def once() -> None:
        proba = booster.predict(x, num_threads=1)
        if labels:
            np.argmax(proba, axis=1).astype(np.int64)

    return cpu_ms(once)


# -- CatBoost: CatBoostClassifier, .cbm -----------------------------------------------------


def write_catboost(root: Path) -> Path:
    """CatBoostClassifier(iterations=100, depth=6) as ``model.cbm``, one thread per call."""
    from catboost import CatBoostClassifier

    x, y = _iris()
    model = CatBoostClassifier(
        iterations=100, depth=6, random_seed=0, verbose=False, allow_writing_files=False
    ).fit(x, y)
    model.save_model(str(_folder(root) / "model.cbm"))
    outputs = {"predict": ("INT64", [-1]), "predict_proba": ("FP64", [-1, 3])}
    return _write_settings(root, "catboost", "model.cbm", {"thread_count": 1}, outputs)


def catboost_cpu_ms(path: Path, rows: int, outputs: list[str]) -> float:
    """``predict`` with ``prediction_type`` ``Class`` and ``Probability`` on a float32 copy of
    the rows, one thread: as ``CatBoostRuntime``."""
    from catboost import CatBoost

    model = CatBoost()
    model.load_model(str(path))
    kinds = {"predict": "Class", "predict_proba": "Probability"}
    calls = [kinds[name] for name in outputs if name in kinds]
    x = wire.iris_rows(rows)

    def once() -> None:
        matrix = np.ascontiguousarray(x, dtype=np.float32)
        for kind in calls:
            model.predict(matrix, prediction_type=kind, thread_count=1)

    return cpu_ms(once)


@dataclass(frozen=True)
class Scenario:
    """One framework's model repository writer and in-process model time."""

    name: str
    write: Callable[[Path], Path]
    model_cpu_ms: Callable[[Path, int, list[str]], float]
    runtime: str  # "module:Class" of the kernel runtime, for the in-process comparison
    outputs: tuple[str, ...] = field(default=TREE_OUTPUTS)  # what a request asks for


SCENARIOS = {
    s.name: s
    for s in (
        Scenario(
            "sklearn",
            write_sklearn,
            sklearn_cpu_ms,
            "kernel_sklearn:SKLearnRuntime",
            tuple(o.name for o in wire.IRIS_OUTPUTS),
        ),
        Scenario("xgboost", write_xgboost, xgboost_cpu_ms, "kernel_xgboost:XGBoostRuntime"),
        Scenario("lightgbm", write_lightgbm, lightgbm_cpu_ms, "kernel_lightgbm:LightGBMRuntime"),
        Scenario("catboost", write_catboost, catboost_cpu_ms, "kernel_catboost:CatBoostRuntime"),
    )
}


def runtime_cpu_ms(scenario: Scenario, model_path: Path, rows: int) -> float:
    """CPU milliseconds of the kernel runtime's ``predict`` for one decoded request of ``rows``
    rows asking for the scenario's outputs, with the settings ``write`` produced."""
    import msgspec

    from kernel import ModelSettings
    from protocol.messages import InferenceRequest, RequestOutput
    from protocol.tensors import input_from_numpy

    folder = model_path.parent
    document = json.loads((folder / "model-settings.json").read_text())
    settings = msgspec.convert({**document, "path": str(folder)}, ModelSettings)
    module, cls = scenario.runtime.split(":")
    runtime = getattr(importlib.import_module(module), cls)(settings)
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(runtime.load())
        request = InferenceRequest(
            inputs=[input_from_numpy(wire.INPUT, wire.iris_rows(rows))],
            outputs=[RequestOutput(name=name) for name in scenario.outputs],
        )
        return cpu_ms(lambda: loop.run_until_complete(runtime.predict(request)))
    finally:
        loop.run_until_complete(runtime.unload())
        loop.close()


def main() -> None:
    """Print the in-process table for the chosen scenarios."""
    parser = argparse.ArgumentParser(description="in-process model vs runtime predict times")
    parser.add_argument("--scenario", choices=["all", *SCENARIOS], default="all")
    parser.add_argument("--rows", default="1,1000", help="comma-separated rows per request")
    args = parser.parse_args()
    chosen = list(SCENARIOS.values()) if args.scenario == "all" else [SCENARIOS[args.scenario]]
    print("| scenario | rows | outputs | model, ms CPU | runtime.predict, ms CPU |")
    print("|---|---:|---|---:|---:|")
    for scenario in chosen:
        with TemporaryDirectory(prefix=f"kernel-{scenario.name}-bench-") as tmp:
            path = scenario.write(Path(tmp))
            for rows in (int(r) for r in args.rows.split(",")):
                own = scenario.model_cpu_ms(path, rows, list(scenario.outputs))
                served = runtime_cpu_ms(scenario, path, rows)
                print(
                    f"| {scenario.name} | {rows} | {', '.join(scenario.outputs)} "
                    f"| {own:.3f} | {served:.3f} |"
                )


if __name__ == "__main__":
    main()
