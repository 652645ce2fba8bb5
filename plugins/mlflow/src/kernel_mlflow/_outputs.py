"""What a pyfunc model returned, as V2 outputs named by its shape.

An array (or a list of numbers, a scalar, a Series) is one output, ``predict``; a list of str is
``predict`` too (BYTES); a DataFrame (or a list of dicts, as chat-style models return) is one
output per column; a dict is one output per key. The response records the content type and
``content_schema``, so ``kernel.codecs.decode_response`` gives the client the value back.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kernel.codecs import encode_response
from kernel_mlflow._signature import DEFAULT_OUTPUT
from protocol.messages import InferenceResponse

__all__ = ["encode_prediction", "normalise"]


def _is_str_list(value: list[Any]) -> bool:
    return bool(value) and all(isinstance(v, str) for v in value)


def _entry(value: Any) -> Any:
    if isinstance(value, list) and not _is_str_list(value):
        return np.asarray(value)
    if hasattr(value, "to_numpy") and not hasattr(value, "columns"):  # a Series
        return value.to_numpy()
    if np.isscalar(value):
        return np.asarray([value])
    return value


def normalise(value: Any) -> Any:
    """The prediction as a value the codecs encode: DataFrame, dict, ndarray or list[str]."""
    import pandas as pd

    if isinstance(value, pd.DataFrame):
        return value.rename(columns=str) if not all(isinstance(c, str) for c in value) else value
    if isinstance(value, pd.Series):
        return value.to_numpy()
    if isinstance(value, dict):
        return {str(k): _entry(v) for k, v in value.items()}
    if isinstance(value, list):
        if _is_str_list(value):
            return value
        if value and all(isinstance(v, dict) for v in value):
            return pd.DataFrame(value)
    if isinstance(value, np.ndarray):
        return value
    return np.atleast_1d(np.asarray(value))


def encode_prediction(value: Any) -> InferenceResponse:
    """The prediction as a response whose outputs are named as the module docstring says."""
    return encode_response(normalise(value), names=(DEFAULT_OUTPUT,))
