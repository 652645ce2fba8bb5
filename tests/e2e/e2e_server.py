"""The models the end-to-end tests serve, and (from ``tests/support/server_process.py``) the
real ``kernel serve`` that serves them.

Everything here is real: models are trained with scikit-learn and saved with joblib into a
temporary model repository, the server is the installed ``kernel`` command in a subprocess on
free loopback ports, and the tests talk to it with real V2 clients.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))
from server_process import Server, kernel_command, serve

__all__ = [
    "ROWS",
    "SPECIES",
    "Repository",
    "Server",
    "iris_data",
    "kernel_command",
    "serve",
    "train_logistic",
    "train_tree",
    "write_model",
]

#: Rows every test sends: one of each species, and a borderline flower.
ROWS = np.array(
    [[5.1, 3.5, 1.4, 0.2], [6.2, 2.9, 4.3, 1.3], [7.7, 3.0, 6.1, 2.3], [6.0, 2.7, 5.1, 1.6]]
)
SPECIES = np.array(["setosa", "versicolor", "virginica"])


def iris_data() -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    iris = load_iris()
    return iris.data, iris.target


def train_logistic(c: float = 1.0, labels: str = "int") -> LogisticRegression:
    """Integer labels (INT64 on the wire) or species names (BYTES)."""
    x, y = iris_data()
    target = SPECIES[y] if labels == "str" else y
    return LogisticRegression(C=c, max_iter=1000).fit(x, target)


def train_tree() -> DecisionTreeClassifier:
    x, y = iris_data()
    return DecisionTreeClassifier(max_depth=2, random_state=0).fit(x, y)


def write_model(
    folder: Path, estimator: object | None, settings: dict[str, Any] | None = None
) -> Path:
    """A model folder: ``model.joblib`` (when given) and ``model-settings.json`` (when given)."""
    folder.mkdir(parents=True, exist_ok=True)
    if estimator is not None:
        joblib.dump(estimator, folder / "model.joblib")
    if settings is not None:
        (folder / "model-settings.json").write_text(json.dumps(settings, indent=2))
    return folder


@dataclass
class Repository:
    """The shared repository: ``iris`` (integer labels) and ``species`` (string labels)."""

    path: Path
    iris: LogisticRegression
    species: LogisticRegression
