"""alibi-detect's first import, with the Keras it was written for.

alibi-detect 0.13 saves and loads TensorFlow models (OutlierAE, VAE, ...) in Keras 2 formats.
TensorFlow 2.16+ gives Keras 3 as ``tf.keras`` unless ``TF_USE_LEGACY_KERAS=1`` is set before
TensorFlow is first imported; ``alibi_detect.saving`` imports TensorFlow when it is installed,
so the variable is set here, in the module the kernel imports once before any detector loads
(``AlibiDetectRuntime.framework_modules``). An operator's own value is kept.
"""

from __future__ import annotations

import os


def use_legacy_keras() -> None:
    """Ask TensorFlow for Keras 2 (``tf-keras``) and a quiet start, unless already decided."""
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


use_legacy_keras()

import alibi_detect.saving  # noqa: E402  (must follow the environment above)

__all__ = ["alibi_detect", "use_legacy_keras"]
