"""Reading a detector saved by ``alibi_detect.saving.save_detector``, and what it is.

``save_detector`` writes a folder: drift detectors as ``config.toml`` plus artefacts, outlier and
adversarial detectors in the legacy ``meta.dill`` / ``meta.pickle`` format, which only the
TensorFlow part of alibi-detect reads. The folder is checked before alibi-detect sees it, so
a wrong ``uri`` says what was expected, and a detector that needs TensorFlow in an environment
without it says how to install it.
"""

from __future__ import annotations

import contextlib
import importlib.util
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "TENSORFLOW_HINT",
    "DetectorInfo",
    "describe",
    "load_detector",
    "may_keep_state",
    "plain_meta",
]

_FORMATS = ("config.toml", "meta.dill", "meta.pickle")

TENSORFLOW_HINT = (
    "pip install 'kernel[alibi-detect]' 'kernel-alibi-detect[tensorflow]'"
    " (alibi-detect[tensorflow]==0.13.0)"
)


def _has_tensorflow() -> bool:
    return importlib.util.find_spec("tensorflow") is not None


def _needs_tensorflow(err: BaseException) -> bool:
    """Whether ``err`` (or what caused it) is alibi-detect missing TensorFlow."""
    seen: BaseException | None = err
    while seen is not None:
        text = str(seen).lower()
        if isinstance(seen, ImportError) and ("tensorflow" in text or "keras" in text):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _config_file(path: Path, model: str) -> Path:
    """The file or folder alibi-detect is given; ``ValueError`` when ``path`` holds no detector."""
    if path.is_file() and path.name == "config.toml":
        return path
    if path.is_dir() and any((path / name).is_file() for name in _FORMATS):
        return path
    raise ValueError(
        f"model {model!r}: {str(path)!r} is not a detector saved by"
        f" alibi_detect.saving.save_detector (expected a folder holding"
        f" {', '.join(_FORMATS[:-1])} or {_FORMATS[-1]}); set parameters.uri to the folder"
        " save_detector wrote"
    )


def may_keep_state(path: Path) -> bool:
    """Whether the detector saved in ``path`` may change with what it sees, read from the
    saved files without importing alibi-detect: online drift detectors (their name ends in
    ``Online``) and the legacy format (outlier detectors; Mahalanobis updates its statistics
    with every batch). A folder that cannot be read counts as stateful: loading will say why."""
    config = path if path.is_file() else path / "config.toml"
    if not config.is_file():
        return True
    try:
        with config.open("rb") as f:
            name = tomllib.load(f).get("name", "")
    except (OSError, tomllib.TOMLDecodeError):
        return True
    return not isinstance(name, str) or name.endswith("Online")


@contextlib.contextmanager
def _seeded(seed: int | None) -> Iterator[None]:
    """numpy's global generator seeded with ``seed`` inside the block, restored after it.

    Online detectors simulate their thresholds with it when they are built, so every load
    draws new thresholds unless the seed is fixed.
    """
    if seed is None:
        yield
        return
    saved = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(saved)


def load_detector(path: Path, model: str, seed: int | None = None) -> Any:
    """The detector saved in ``path`` (a folder, or its ``config.toml``), built with numpy's
    global generator seeded with ``seed`` when given (reproducible online thresholds).

    Raises ``ValueError`` naming the path when it is not a saved detector, when the detector
    needs TensorFlow that is not installed (with the command that installs it), or when
    alibi-detect cannot read it.
    """
    target = _config_file(path, model)
    legacy = target.is_dir() and not (target / "config.toml").is_file()
    if legacy and not _has_tensorflow():
        raise ValueError(
            f"model {model!r}: the detector in {str(path)!r} is in alibi-detect's legacy format"
            " (outlier and adversarial detectors), which needs TensorFlow, and TensorFlow is"
            f" not installed: {TENSORFLOW_HINT}"
        )
    # A worker process may reach here without the kernel's framework import: same Keras rule.
    from kernel_alibi_detect._framework import use_legacy_keras

    use_legacy_keras()
    from alibi_detect.saving import load_detector as alibi_load

    try:
        with _seeded(seed):
            return alibi_load(target)
    except ImportError as err:
        if _needs_tensorflow(err) and not _has_tensorflow():
            raise ValueError(
                f"model {model!r}: the detector in {str(path)!r} needs TensorFlow, which is not"
                f" installed: {TENSORFLOW_HINT}"
            ) from err
        raise ValueError(
            f"model {model!r}: alibi-detect cannot load the detector in {str(path)!r}"
            f" (a missing dependency): {err}"
        ) from err
    except Exception as err:
        raise ValueError(
            f"model {model!r}: alibi-detect cannot load the detector in {str(path)!r}:"
            f" {type(err).__name__}: {err}"
        ) from err


@dataclass(frozen=True)
class DetectorInfo:
    """What a loaded detector is, read once at load."""

    meta: dict[str, str | int | float | bool]  # name, detector_type, online, data_type, ...
    online: bool  # each instance is one update of a sliding test window (``t`` advances)
    stateful: bool  # predict changes the detector (online detectors, Mahalanobis): serialise
    x_ref: np.ndarray[Any, Any] | None  # reference data as ``predict`` takes it, when known

    @property
    def instance_shape(self) -> tuple[int, ...] | None:
        """The shape of one instance ``predict`` takes, when the reference data says it."""
        return None if self.x_ref is None else tuple(self.x_ref.shape[1:])


def plain_meta(meta: Any) -> dict[str, str | int | float | bool]:
    """The meta entries a V2 ``parameters`` object can carry (None and nested values dropped)."""
    if not isinstance(meta, dict):
        return {}
    return {
        str(k): v.item() if isinstance(v, np.generic) else v
        for k, v in meta.items()
        if isinstance(v, str | int | float | bool | np.generic)
    }


def _reference(detector: Any) -> np.ndarray[Any, Any] | None:
    """``x_ref`` when it is what ``predict`` takes (no preprocessing in between)."""
    for candidate in (detector, getattr(detector, "_detector", None)):
        if candidate is None:
            continue
        x_ref = getattr(candidate, "x_ref", None)
        if getattr(candidate, "preprocess_fn", None) is not None:
            return None  # x_ref is preprocessed; requests are raw: their shapes differ
        if isinstance(x_ref, np.ndarray) and x_ref.ndim >= 1 and x_ref.dtype.kind in "biuf":
            return x_ref
    return None


def describe(detector: Any) -> DetectorInfo:
    """The ``DetectorInfo`` of a loaded detector."""
    meta = plain_meta(getattr(detector, "meta", None))
    flagged_online = bool(meta.get("online", False))
    # Online drift detectors keep a time step and save/restore their state; they take one
    # instance per predict call.
    online = flagged_online and hasattr(detector, "save_state") and hasattr(detector, "t")
    return DetectorInfo(
        meta=meta, online=online, stateful=flagged_online, x_ref=_reference(detector)
    )
