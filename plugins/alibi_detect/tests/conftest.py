"""Real alibi-detect detectors fitted once per session on generated data and saved with
``save_detector``: each in ``<root>/<name>/detector``, the model folder being ``<root>/<name>``."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from alibi_support import N_REF, categorical, mixed, reference, save

# Before alibi-detect imports TensorFlow (where installed): the Keras its saved models use.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
pytest.importorskip("alibi_detect")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``<root>/{ks,tabular,chisquare,cvm,online,fet}/detector``."""
    from alibi_detect.cd import (
        ChiSquareDrift,
        CVMDrift,
        CVMDriftOnline,
        FETDriftOnline,
        KSDrift,
        TabularDrift,
    )

    root = tmp_path_factory.mktemp("detectors")
    x_ref = reference()
    save(KSDrift(x_ref, p_val=0.05), root / "ks" / "detector")
    save(
        # columns 2 and 3 are categorical (categories inferred from the reference data)
        TabularDrift(mixed(12, N_REF), p_val=0.05, categories_per_feature={2: None, 3: None}),
        root / "tabular" / "detector",
    )
    save(ChiSquareDrift(categorical(12, N_REF), p_val=0.05), root / "chisquare" / "detector")
    save(CVMDrift(x_ref, p_val=0.05), root / "cvm" / "detector")
    save(
        CVMDriftOnline(x_ref, ert=200, window_sizes=[20], n_bootstraps=1000, verbose=False),
        root / "online" / "detector",
    )
    binary = (np.random.default_rng(0).random((N_REF, 1)) < 0.3).astype(np.float32)
    save(
        FETDriftOnline(binary, ert=200, window_sizes=[20], n_bootstraps=1000, verbose=False),
        root / "fet" / "detector",
    )
    return root


@pytest.fixture
def model_folder(saved: Path, tmp_path: Path) -> Callable[[str], Path]:
    """``model_folder(name)``: a private copy of a saved detector's model folder (online
    detectors write their state into it)."""

    def copy(name: str) -> Path:
        target = tmp_path / name
        shutil.copytree(saved / name, target)
        return target

    return copy
