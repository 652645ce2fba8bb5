"""What scikit-learn needs of each input beyond ``kernel.feature_matrix``'s layouts.

BYTES tensors are decoded from UTF-8 to ``str`` so that pipelines fit on text columns (one-hot
encoders, vectorisers) see the values they were fit on; other inputs are taken as they are.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kernel import BadRequest
from protocol.messages import RequestInput

__all__ = ["decode_text"]


def decode_text(tensor: RequestInput, array: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """A ``kernel.PrepareInput``: BYTES (or ``bytes``/object) data as ``str`` elements."""
    if tensor.datatype != "BYTES" and array.dtype.kind not in "SO":
        return array
    flat = array.reshape(-1)
    out = np.empty(flat.shape, dtype=object)
    try:
        for i, value in enumerate(flat):
            out[i] = value.decode("utf-8") if isinstance(value, bytes | bytearray) else value
    except UnicodeDecodeError as err:
        raise BadRequest(
            f"input {tensor.name!r}: element {i} is not UTF-8 text ({err.reason})"
        ) from err
    return out.reshape(array.shape)
