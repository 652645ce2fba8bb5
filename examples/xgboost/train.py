"""Train the example XGBoost classifier and save it as a kernel model folder.

    python examples/xgboost/train.py examples/models/wine

writes ``model.ubj`` (XGBoost's binary JSON format, which keeps the feature names) into the
folder, and this example's ``model-settings.json`` when the folder has none, then prints what
the model answers to ``request.json`` so a served answer can be checked by eye. The model file
is produced, never committed.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np
import xgboost as xgb
from sklearn.datasets import load_wine

HERE = Path(__file__).resolve().parent


def train() -> xgb.Booster:
    """Three wine cultivars from 13 chemical measurements (multi:softprob, 20 rounds)."""
    wine = load_wine()
    names = [name.replace("/", "_") for name in wine.feature_names]
    matrix = xgb.DMatrix(wine.data, label=wine.target, feature_names=names)
    params = {"objective": "multi:softprob", "num_class": 3, "max_depth": 3, "eta": 0.3}
    return xgb.train(params, matrix, num_boost_round=20)


def main() -> None:
    parser = argparse.ArgumentParser(description="Train the example XGBoost wine classifier.")
    parser.add_argument("folder", type=Path, help="model folder to write: examples/models/wine")
    folder: Path = parser.parse_args().folder
    folder.mkdir(parents=True, exist_ok=True)
    booster = train()
    booster.save_model(str(folder / "model.ubj"))
    if not (folder / "model-settings.json").exists():
        shutil.copyfile(HERE / "model-settings.json", folder / "model-settings.json")
    print(f"saved {folder / 'model.ubj'}")

    request = json.loads((HERE / "request.json").read_text())
    rows = np.asarray(request["inputs"][0]["data"], dtype=np.float32).reshape(
        request["inputs"][0]["shape"]
    )
    probabilities = booster.inplace_predict(rows)
    print("predict:", np.argmax(probabilities, axis=1).tolist())
    print("predict_proba:", np.round(probabilities, 4).tolist())


if __name__ == "__main__":
    main()
