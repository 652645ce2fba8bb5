"""What LightGBM needs of each input beyond ``kernel.feature_matrix``'s layouts.

Inputs are numeric. LightGBM reads ``float32`` and ``float64`` arrays as they are (no copy);
every other numeric type becomes ``float64``. ``NaN`` is a missing value, as LightGBM treats it.
Several one-column inputs whose names are exactly the model's feature names are placed by name
(a pandas-shaped request); otherwise they are stacked in request order.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kernel import BadRequest
from protocol.messages import RequestInput

__all__ = ["float_input"]


def float_input(tensor: RequestInput, array: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """A ``kernel.PrepareInput``: the input as a ``float32``/``float64`` array, or
    ``BadRequest`` for a non-numeric one."""
    if array.dtype.kind not in "fiub" or tensor.datatype == "BYTES":
        raise BadRequest(
            f"input {tensor.name!r} is {tensor.datatype}: LightGBM models take numeric inputs"
            " (FP*, INT*, UINT*, BOOL)"
        )
    if array.dtype not in (np.float32, np.float64):
        array = array.astype(np.float64)
    return array
