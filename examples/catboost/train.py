"""Train the example CatBoost classifier and save it as a kernel model folder.

    python examples/catboost/train.py examples/models/loans

Fits a loan-approval classifier on a synthetic DataFrame with two categorical columns (``city``,
``plan``) as CatBoost users train them, writes ``model.cbm`` into the folder (and this example's
``model-settings.json`` when the folder has none), then prints what the model answers to
``request.json`` so a served answer can be checked by eye. The model file is produced, never
committed.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
from catboost import CatBoostClassifier

HERE = Path(__file__).resolve().parent
CATEGORICAL = ["city", "plan"]


def applications(rows: int = 2000, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Applicants and whether they were approved (labels ``approved``/``declined``)."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "age": rng.integers(18, 80, rows).astype(np.float64),
            "city": rng.choice(["oslo", "rome", "lima", "kyiv"], rows),
            "income": rng.normal(50.0, 12.0, rows).round(1),
            "plan": rng.choice(["basic", "plus", "pro"], rows),
        }
    )
    score = (frame["income"] - 50) / 12 + (frame["plan"] == "pro") - (frame["city"] == "lima")
    approved = score + rng.normal(0.0, 0.5, rows) > 0
    return frame, np.where(approved, "approved", "declined")


def train() -> CatBoostClassifier:
    frame, labels = applications()
    model = CatBoostClassifier(
        iterations=200,
        depth=4,
        cat_features=CATEGORICAL,
        random_seed=0,
        verbose=False,
        allow_writing_files=False,
    )
    return model.fit(frame, labels)


def request_frame(request: dict[str, object]) -> pd.DataFrame:
    """The DataFrame a V2 request with one input per column stands for."""
    inputs = request["inputs"]
    assert isinstance(inputs, list)
    return pd.DataFrame({tensor["name"]: tensor["data"] for tensor in inputs})


def main() -> None:
    parser = argparse.ArgumentParser(description="Train the example CatBoost classifier.")
    parser.add_argument("folder", type=Path, help="model folder to write: examples/models/loans")
    folder: Path = parser.parse_args().folder
    folder.mkdir(parents=True, exist_ok=True)
    model = train()
    model.save_model(str(folder / "model.cbm"))
    if not (folder / "model-settings.json").exists():
        shutil.copyfile(HERE / "model-settings.json", folder / "model-settings.json")
    print(f"saved {folder / 'model.cbm'}")

    rows = request_frame(json.loads((HERE / "request.json").read_text()))
    print("predict:", model.predict(rows).tolist())
    print("predict_proba:", np.round(model.predict_proba(rows), 4).tolist())


if __name__ == "__main__":
    main()
