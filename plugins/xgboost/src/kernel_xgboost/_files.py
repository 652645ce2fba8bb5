"""Finding the model file and reading it into a ``Booster``, whatever XGBoost users saved.

The format is read from the file's first bytes, not its name: XGBoost 2.1+ writes UBJSON into
files named ``.bst`` or ``.model``, so the extension says little. JSON and UBJSON models both
start with ``{``; pickles (joblib or ``pickle``) start with the pickle opcode ``\\x80`` or a
joblib compression header; anything else is XGBoost's legacy binary format (``binf`` header
since XGBoost 1.0, none before), which XGBoost 3.1 and later can no longer read.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kernel.model_settings import ModelSettings

__all__ = ["MODEL_FILES", "LoadedModel", "load_model", "model_file"]

#: The files looked for in the model folder, in this order, when ``parameters.uri`` is not set.
#: MLServer's three names first, so an MLServer model folder picks the same file.
MODEL_FILES: tuple[str, ...] = (
    "model.bst",
    "model.json",
    "model.ubj",
    "model.model",
    "model.joblib",
    "model.pkl",
    "model.pickle",
)

_PICKLE_SUFFIXES = (".joblib", ".pkl", ".pickle")
# zlib, gzip, bz2, xz and lz4 frame magics: what ``joblib.dump(..., compress=...)`` writes.
_COMPRESSED = (b"\x78", b"\x1f\x8b", b"BZh", b"\xfd7zXZ", b"\x04\x22\x4d\x18")


@dataclass(frozen=True)
class LoadedModel:
    """A booster and what its file said besides the trees."""

    booster: Any  # xgboost.Booster
    source: str  # "json", "ubj", "legacy binary" or "pickled <class>"
    missing: float  # the value the model treats as missing (the wrapper's ``missing``)


def model_file(settings: ModelSettings) -> Path:
    """``parameters.uri`` or the first well-known file name; a folder is searched the same way."""
    return settings.resolve_uri(*MODEL_FILES, search_folder=True)


def _sniff(head: bytes, suffix: str) -> str:
    stripped = head.lstrip()
    if stripped.startswith(b"{"):
        # UBJSON objects open with '{' then a type marker; JSON with '{' then '"' or space.
        rest = stripped[1:2]
        return "json" if rest in (b'"', b"", b"}") or rest.isspace() else "ubj"
    if head.startswith(b"\x80") or head.startswith(_COMPRESSED) or suffix in _PICKLE_SUFFIXES:
        return "pickle"
    return "legacy binary"


def load_model(path: Path, name: str) -> LoadedModel:
    """Read ``path`` into a ``Booster``.

    Raises ``TypeError`` for a pickle that holds no XGBoost model and ``ValueError`` naming the
    fix for a legacy binary model the installed XGBoost cannot read.
    """
    import xgboost

    data = path.read_bytes()
    kind = _sniff(data[:16], path.suffix.lower())
    if kind == "pickle":
        return _unpickle(path, name)
    try:
        # From a buffer, not the path: XGBoost guesses the format from the file's extension
        # and warns for .bst/.model; from bytes it reads the header, as _sniff did.
        booster = xgboost.Booster(model_file=bytearray(data))
    except xgboost.core.XGBoostError as err:
        if kind == "legacy binary":
            raise ValueError(
                f"model {name!r}: {path.name} is in XGBoost's legacy binary format, which"
                f" XGBoost {xgboost.__version__} cannot read (support was removed in 3.1);"
                " re-save it with XGBoost 3.0 or earlier as UBJSON or JSON:"
                " xgboost.Booster(model_file='model.bst').save_model('model.ubj')"
            ) from err
        raise ValueError(f"model {name!r}: XGBoost cannot read {path.name}: {err}") from err
    return LoadedModel(booster, kind, math.nan)


def _unpickle(path: Path, name: str) -> LoadedModel:
    import joblib
    import xgboost

    obj = joblib.load(path)
    if isinstance(obj, xgboost.Booster):
        return LoadedModel(obj, "pickled Booster", math.nan)
    if isinstance(obj, xgboost.XGBModel):
        missing = getattr(obj, "missing", math.nan)
        return LoadedModel(
            obj.get_booster(),
            f"pickled {type(obj).__name__}",
            math.nan if missing is None else float(missing),
        )
    raise TypeError(
        f"model {name!r}: {path.name} holds a {type(obj).__qualname__}, not an XGBoost model"
        " (a Booster, XGBClassifier, XGBRegressor, XGBRanker or another XGBModel)"
    )
