"""Helpers the plugin's tests share (a module of its own: test directories have no packages,
so a second ``conftest`` elsewhere in the repository must not shadow these)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from kernel_mlflow import MLflowRuntime

#: ``await load_runtime(path_or_uri, extra=None, **settings_fields)``
LoadRuntime = Callable[..., Awaitable[MLflowRuntime]]


@dataclass
class Saved:
    """Model folders saved by MLflow, and what trained them."""

    root: Path
    frame: pd.DataFrame  # iris features, named columns
    iris: Path  # LogisticRegression, signature + input example
    scaler: Path  # custom PythonModel with params, returns a DataFrame
    scaler_dict: Path  # the same, returning a dict of arrays
    xgb: Path  # XGBClassifier
    nosig: Path  # LinearRegression, no signature
    estimator: Any
    booster: Any


@dataclass
class Tracking:
    uri: str
    run_id: str
    name: str


#: A custom pyfunc model, saved "from code" (MLflow copies this file into the model folder, so
#: a server process loads it without the tests on its path). ``model_config["returns"]`` picks
#: what ``predict`` returns: a DataFrame (default), a dict of arrays, a list of str, a Series.
SCALER_CODE = """
import mlflow
import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel


class Scaler(PythonModel):
    def load_context(self, context):
        self.returns = (context.model_config or {}).get("returns", "frame")

    def predict(self, context, model_input, params=None):
        params = params or {}
        factor = float(params.get("factor", 1.0))
        prefix = str(params.get("prefix", "row"))
        x = np.asarray(model_input["x"], dtype=np.float64) * factor
        labels = [f"{prefix}-{i}" for i in range(len(x))]
        if self.returns == "dict":
            return {"scaled": x, "doubled": x * 2}
        if self.returns == "strings":
            return labels
        if self.returns == "series":
            return pd.Series(x, name="scaled")
        return pd.DataFrame({"scaled": x, "label": labels})


mlflow.models.set_model(Scaler())
"""


def save_scaler(folder: Path, code_dir: Path, returns: str = "frame") -> Any:
    """Save the scaler with a signature and a params schema (``factor``: double, ``prefix``:
    string); returns the signature."""
    import mlflow
    import pandas as pd
    from mlflow.models import infer_signature

    code = code_dir / "scaler_model.py"
    if not code.exists():
        code_dir.mkdir(parents=True, exist_ok=True)
        code.write_text(SCALER_CODE)
    example = pd.DataFrame({"x": [1.0, 2.5]})
    output = pd.DataFrame({"scaled": [1.0, 2.5], "label": ["row-0", "row-1"]})
    signature = infer_signature(example, output, params={"factor": 1.0, "prefix": "row"})
    mlflow.pyfunc.save_model(
        str(folder),
        python_model=str(code),
        model_config={"returns": returns},
        signature=signature,
        input_example=example,
        pip_requirements=["pandas"],
    )
    return signature


#: Rows the tests send: one of each species and two borderline flowers.
ROWS = [0, 60, 120, 70, 133]


def rows(frame: Any, idx: list[int] | None = None) -> Any:
    """``frame``'s ``ROWS`` (or ``idx``) with a fresh index."""
    return frame.iloc[idx or ROWS].reset_index(drop=True)
