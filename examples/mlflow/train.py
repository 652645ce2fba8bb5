"""Train the example scikit-learn classifier and save it with MLflow as a kernel model folder.

    python examples/mlflow/train.py examples/models/wine-mlflow

writes the MLflow model (``MLmodel``, the pickled estimator, its signature and input example)
into ``model/`` inside the folder, and this example's ``model-settings.json`` when the folder
has none, then prints what ``mlflow.pyfunc`` answers to ``invocations.json`` so a served answer
can be checked by eye. The model is produced, never committed.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import mlflow.pyfunc
import mlflow.sklearn
import pandas as pd
from mlflow.models import infer_signature
from sklearn.datasets import load_wine
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

HERE = Path(__file__).resolve().parent


def features() -> tuple[pd.DataFrame, pd.Series]:
    """The wine measurements with names that are valid V2 tensor names."""
    wine = load_wine(as_frame=True)
    frame = wine.data.rename(columns=lambda c: c.replace("/", "_"))
    return frame, wine.target


def main() -> None:
    parser = argparse.ArgumentParser(description="Train and save the example MLflow model.")
    parser.add_argument("folder", type=Path, help="model folder to write: examples/models/wine")
    folder: Path = parser.parse_args().folder
    frame, target = features()
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(frame, target)
    target_dir = folder / "model"
    shutil.rmtree(target_dir, ignore_errors=True)  # MLflow refuses to overwrite a model
    mlflow.sklearn.save_model(
        model,
        str(target_dir),
        signature=infer_signature(frame, model.predict(frame)),
        input_example=frame.iloc[:2],
        # Listing requirements skips MLflow's slow inference of them (seconds per save).
        pip_requirements=["scikit-learn", "pandas"],
    )
    if not (folder / "model-settings.json").exists():
        shutil.copyfile(HERE / "model-settings.json", folder / "model-settings.json")
    print(f"saved {target_dir}")

    body = json.loads((HERE / "invocations.json").read_text())
    rows = pd.DataFrame(**body["dataframe_split"])
    pyfunc = mlflow.pyfunc.load_model(str(target_dir))
    print("predictions:", pyfunc.predict(rows).tolist())
    print("predict_proba:", model.predict_proba(rows).round(4).tolist())


if __name__ == "__main__":
    main()
