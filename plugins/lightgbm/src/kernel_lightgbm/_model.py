"""Reading a LightGBM model file and what the model is: a ``Booster`` and the facts about it
that decide its outputs (kind, classes, feature count and names, trees per prediction).

Two kinds of file are served, told apart by their content rather than their name: LightGBM's
own text format (``Booster.save_model``; it starts with the line ``tree``), and pickles
(``joblib.dump`` or ``pickle.dump``) of a scikit-learn wrapper (``LGBMClassifier``,
``LGBMRegressor``, ``LGBMRanker``) or of a ``Booster``.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["BINARY", "MULTICLASS", "RANKING", "LoadedModel", "load_model"]

#: Objectives (LightGBM's canonical names, as saved in the model) by model kind; every other
#: objective (regression, poisson, quantile, cross_entropy, custom, ...) is a regressor.
BINARY = frozenset({"binary"})
MULTICLASS = frozenset({"multiclass", "multiclassova"})
RANKING = frozenset({"lambdarank", "rank_xendcg"})

#: The first bytes of LightGBM's text model format.
_TEXT_MAGIC = b"tree"


def _check_text(text: str, path: Path, model: str) -> None:
    """Refuse a text model that was cut short before LightGBM parses it.

    LightGBM's parser aborts or crashes the whole process (not an exception) on a model file
    truncated inside a tree or inside its parameters, as a partial copy or download leaves it;
    the sections it needs must each be closed.
    """
    lines = set(text.splitlines())
    missing = [end for end in ("end of trees",) if end not in lines]
    if "parameters:" in lines and "end of parameters" not in lines:
        missing.append("end of parameters")
    if missing:
        raise ValueError(
            f"model {model!r}: {path} is an incomplete LightGBM text model (no"
            f" {' / '.join(repr(m) for m in missing)} line); was it cut short while copying?"
        )


@dataclass(frozen=True)
class LoadedModel:
    """A loaded ``Booster`` and what was read about it."""

    booster: Any
    #: ``"classifier"``, ``"regressor"`` or ``"ranker"``.
    kind: str
    objective: str
    #: Class count for classifiers (2 for binary), else 1.
    n_classes: int
    #: Labels ``predict`` maps class indices to (a wrapper's ``classes_``); ``None`` for the
    #: indices themselves.
    classes: np.ndarray[Any, Any] | None
    n_features: int
    #: The model's feature names, or ``None`` when it has only the generated ``Column_<i>``.
    feature_names: list[str] | None
    #: ``predict_leaf`` columns: trees used per prediction.
    n_leaf_columns: int
    #: Where it came from: ``"text"`` or the pickled object's type name.
    source: str


def _read_pickle(path: Path, model: str) -> Any:
    try:
        import joblib
    except ModuleNotFoundError:
        joblib = None
    try:
        if joblib is not None:
            return joblib.load(path)
        with path.open("rb") as file:
            return pickle.load(file)
    except ModuleNotFoundError as err:
        # The wrapper classes unpickle only with scikit-learn importable.
        raise ModuleNotFoundError(
            f"model {model!r}: {path} needs the module {err.name!r} to unpickle; pickled"
            " scikit-learn-wrapper models need `pip install kernel-lightgbm[sklearn]`"
        ) from err
    except (pickle.UnpicklingError, EOFError, ValueError, KeyError, IndexError) as err:
        # joblib and pickle fail on foreign bytes with any of these, and say little.
        raise ValueError(
            f"model {model!r}: {path} is neither a LightGBM text model (which starts with"
            f" 'tree') nor a pickled LightGBM model ({type(err).__name__}: {err})"
        ) from err


def _booster_of(obj: Any, path: Path, model: str) -> tuple[Any, np.ndarray[Any, Any] | None]:
    """The ``Booster`` inside a pickled object, and a wrapper classifier's ``classes_``."""
    import lightgbm

    if isinstance(obj, lightgbm.Booster):
        return obj, None
    booster = getattr(obj, "_Booster", None) if isinstance(obj, lightgbm.LGBMModel) else None
    if booster is None:
        what = type(obj).__qualname__
        hint = "an unfitted LightGBM estimator" if isinstance(obj, lightgbm.LGBMModel) else what
        raise TypeError(
            f"model {model!r}: {path} holds {hint}, not a fitted LightGBM model (a Booster or a"
            " fitted LGBMClassifier / LGBMRegressor / LGBMRanker)"
        )
    classes = getattr(obj, "classes_", None) if isinstance(obj, lightgbm.LGBMClassifier) else None
    return booster, classes if isinstance(classes, np.ndarray) else None


def _objective(booster: Any) -> str:
    """The saved objective's name (``binary``, ``multiclass``, ...)."""
    value = booster.params.get("objective") if isinstance(booster.params, dict) else None
    if isinstance(value, str) and value:
        # Parameters hold the bare name; the model file's header adds settings after spaces.
        return value.split()[0]
    for line in booster.model_to_string(num_iteration=0).splitlines():
        if line.startswith("objective="):
            return str(line.partition("=")[2].split()[0])
        if not line:
            break
    return "custom"


def _leaf_columns(booster: Any) -> int:
    """Trees ``predict(pred_leaf=True)`` reports: the best iteration's, when one was kept."""
    best = int(booster.best_iteration)
    iterations = best if best > 0 else int(booster.current_iteration())
    return iterations * int(booster.num_model_per_iteration())


def _feature_names(booster: Any) -> list[str] | None:
    names = [str(name) for name in booster.feature_name()]
    generated = [f"Column_{i}" for i in range(len(names))]
    return None if names == generated else names


def load_model(path: Path, model: str) -> LoadedModel:
    """Load ``path`` (a text model or a pickle) and describe it.

    Raises ``TypeError`` for a pickle that holds no fitted LightGBM model, and LightGBM's own
    error for a text file it cannot parse.
    """
    import lightgbm

    with path.open("rb") as file:
        head = file.read(len(_TEXT_MAGIC))
    classes: np.ndarray[Any, Any] | None = None
    if head == _TEXT_MAGIC:
        text = path.read_text(encoding="utf-8", errors="replace")
        _check_text(text, path, model)
        booster = lightgbm.Booster(model_str=text)
        source = "text"
    else:
        obj = _read_pickle(path, model)
        booster, classes = _booster_of(obj, path, model)
        source = type(obj).__qualname__
    objective = _objective(booster)
    n_per_iteration = int(booster.num_model_per_iteration())
    if objective in BINARY:
        kind, n_classes = "classifier", 2
    elif objective in MULTICLASS:
        kind, n_classes = "classifier", n_per_iteration
    elif objective in RANKING:
        kind, n_classes = "ranker", 1
    else:
        kind, n_classes = "regressor", 1
    if classes is not None and len(classes) != n_classes:
        raise TypeError(
            f"model {model!r}: the estimator has {len(classes)} classes but its booster's"
            f" {objective!r} objective predicts {n_classes}"
        )
    return LoadedModel(
        booster=booster,
        kind=kind,
        objective=objective,
        n_classes=n_classes,
        classes=classes,
        n_features=int(booster.num_feature()),
        feature_names=_feature_names(booster),
        n_leaf_columns=_leaf_columns(booster),
        source=source,
    )
