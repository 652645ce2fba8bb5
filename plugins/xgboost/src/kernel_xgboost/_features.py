"""What XGBoost needs of the request's inputs beyond ``kernel.feature_matrix``'s layouts.

Inputs are numeric. Several one-column inputs named after the model's features are placed by
name, and then every feature must be present once (``strict_names``). ``FP32`` and ``FP64``
matrices reach XGBoost as they are (no copy); other numeric types become ``float32``, the type
XGBoost computes in. NaN is a missing value, as in XGBoost itself.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kernel import BadRequest
from kernel.runtime_helpers import feature_matrix as kernel_feature_matrix
from protocol.messages import RequestInput

__all__ = ["feature_matrix"]

Array = np.ndarray[Any, Any]


def _numeric_input(tensor: RequestInput, array: Array) -> Array:
    if array.dtype.kind not in "biuf":
        raise BadRequest(
            f"input {tensor.name!r} is {tensor.datatype}: XGBoost models take numeric inputs"
            " (FP32, FP64, INT*, UINT*, BOOL)"
        )
    return array


def feature_matrix(
    inputs: list[RequestInput],
    model: str,
    feature_names: tuple[str, ...] | None,
    n_features: int,
) -> Array:
    """The ``[rows, n_features]`` matrix the request's inputs describe, ``float32`` unless it is
    ``float64`` already. Raises ``BadRequest`` naming the input that is wrong."""
    matrix = kernel_feature_matrix(
        inputs,
        model=model,
        feature_names=feature_names,
        strict_names=True,
        n_features=n_features,
        prepare=_numeric_input,
    )
    # Converted once, on the whole matrix: what column_stack made of the columns' types.
    if matrix.dtype in (np.float32, np.float64):
        return matrix
    return matrix.astype(np.float32)
