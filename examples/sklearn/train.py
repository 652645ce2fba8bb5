"""Train the example iris classifier and save it as a kernel model folder.

    python examples/sklearn/train.py examples/models/iris

writes ``model.joblib`` into the folder (and this example's ``model-settings.json`` when the
folder has none), then prints what the model answers to ``request.json`` so a served answer
can be checked by eye. The model file is produced, never committed: pickles are code.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import joblib
import numpy as np
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

HERE = Path(__file__).resolve().parent


def train() -> Pipeline:
    """A scaled logistic regression whose labels are the species names (served as BYTES)."""
    iris = load_iris()
    species = np.asarray(iris.target_names)[iris.target]
    model = Pipeline([("scale", StandardScaler()), ("classify", LogisticRegression(max_iter=500))])
    return model.fit(iris.data, species)


def main() -> None:
    parser = argparse.ArgumentParser(description="Train the example iris classifier.")
    parser.add_argument("folder", type=Path, help="model folder to write: examples/models/iris")
    folder: Path = parser.parse_args().folder
    folder.mkdir(parents=True, exist_ok=True)
    model = train()
    joblib.dump(model, folder / "model.joblib")
    if not (folder / "model-settings.json").exists():
        shutil.copyfile(HERE / "model-settings.json", folder / "model-settings.json")
    print(f"saved {folder / 'model.joblib'}")

    request = json.loads((HERE / "request.json").read_text())
    rows = np.asarray(request["inputs"][0]["data"], dtype=np.float64).reshape(
        request["inputs"][0]["shape"]
    )
    print("predict:", model.predict(rows).tolist())
    print("predict_proba:", np.round(model.predict_proba(rows), 4).tolist())


if __name__ == "__main__":
    main()
