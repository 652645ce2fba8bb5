"""Train the example wine classifier and save it as a kernel model folder.

    python examples/lightgbm/train.py examples/models/wine

writes ``model.txt`` (LightGBM's own text format) into the folder, and this example's
``model-settings.json`` when the folder has none, then prints what the model answers to
``request.json`` so a served answer can be checked by eye. The model file is produced, never
committed. The wine data set comes with scikit-learn; serving the model does not need it.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import lightgbm as lgb
import numpy as np
from sklearn.datasets import load_wine

HERE = Path(__file__).resolve().parent


def train() -> lgb.Booster:
    """A three-class booster over the 13 wine measurements, which keeps their names."""
    wine = load_wine()
    # LightGBM feature names must not hold JSON punctuation: od280/od315_... becomes od280_od315_...
    names = [name.replace("/", "_") for name in wine.feature_names]
    data = lgb.Dataset(wine.data, wine.target, feature_name=names)
    params = {"objective": "multiclass", "num_class": 3, "num_leaves": 7, "verbose": -1, "seed": 0}
    return lgb.train(params, data, num_boost_round=20)


def main() -> None:
    parser = argparse.ArgumentParser(description="Train the example wine classifier.")
    parser.add_argument("folder", type=Path, help="model folder to write: examples/models/wine")
    folder: Path = parser.parse_args().folder
    folder.mkdir(parents=True, exist_ok=True)
    booster = train()
    booster.save_model(str(folder / "model.txt"))
    if not (folder / "model-settings.json").exists():
        shutil.copyfile(HERE / "model-settings.json", folder / "model-settings.json")
    print(f"saved {folder / 'model.txt'}")

    request = json.loads((HERE / "request.json").read_text())
    rows = np.asarray(request["inputs"][0]["data"], dtype=np.float64).reshape(
        request["inputs"][0]["shape"]
    )
    probabilities = booster.predict(rows)
    print("predict:", np.argmax(probabilities, axis=1).tolist())
    print("predict_proba:", np.round(probabilities, 4).tolist())


if __name__ == "__main__":
    main()
