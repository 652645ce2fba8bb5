"""Fit the example drift detector and save it as a kernel model folder.

    python examples/alibi_detect/train.py examples/models/sensor-drift

fits a Kolmogorov-Smirnov drift detector (alibi-detect's ``KSDrift``) on 500 reference rows of
four sensor readings, saves it with ``save_detector`` into ``detector/`` in the folder, copies
this example's ``model-settings.json`` when the folder has none, then prints what the detector
answers to ``request.json`` (rows shifted away from the reference) so a served answer can be
checked by eye. The detector is produced, never committed.

alibi-detect pins numpy<2: run this in the plugin's own environment
(``pip install -e . -e plugins/alibi_detect``).
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
from pathlib import Path
from typing import Any

import numpy as np
from alibi_detect.cd import KSDrift
from alibi_detect.saving import save_detector

HERE = Path(__file__).resolve().parent


def reference() -> np.ndarray[Any, Any]:
    """500 rows of four readings, each normal around its own level."""
    rng = np.random.default_rng(2024)
    levels = np.array([20.0, 1.0, 0.5, 100.0], dtype=np.float32)
    spread = np.array([2.0, 0.1, 0.05, 10.0], dtype=np.float32)
    return (levels + spread * rng.normal(size=(500, 4))).astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description="Fit the example KSDrift detector.")
    parser.add_argument(
        "folder", type=Path, help="model folder to write: examples/models/sensor-drift"
    )
    folder: Path = parser.parse_args().folder
    folder.mkdir(parents=True, exist_ok=True)
    logging.getLogger("alibi_detect").setLevel(logging.ERROR)
    detector = KSDrift(reference(), p_val=0.05)
    save_detector(detector, folder / "detector")
    if not (folder / "model-settings.json").exists():
        shutil.copyfile(HERE / "model-settings.json", folder / "model-settings.json")
    print(f"saved {folder / 'detector'}")

    request = json.loads((HERE / "request.json").read_text())
    tensor = request["inputs"][0]
    rows = np.asarray(tensor["data"], dtype=np.float32).reshape(tensor["shape"])
    result = detector.predict(rows)["data"]
    print("is_drift:", result["is_drift"])
    print("p_val:", np.round(result["p_val"], 6).tolist())


if __name__ == "__main__":
    main()
