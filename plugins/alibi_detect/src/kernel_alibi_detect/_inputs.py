"""The instances a request sends a detector: one array, instances along its first axis.

One input is taken as it is (``[rows, features]``, or ``[rows, height, width, channels]`` for
images); several inputs are one feature column each, stacked in request order (the kernel's
``feature_matrix``). BYTES inputs become text (for detectors whose ``preprocess_fn`` takes
strings). When the detector's reference data says what one instance looks like, the request
must match it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kernel import BadRequest, feature_matrix, tensor_array
from protocol.messages import InferenceRequest

__all__ = ["instances"]

Array = np.ndarray[Any, Any]


def _text(array: Array, name: str) -> Array:
    try:
        text: Array = np.vectorize(
            lambda item: item.decode() if isinstance(item, bytes) else str(item), otypes=[object]
        )(array)
        return text
    except UnicodeDecodeError:
        raise BadRequest(f"input {name!r} is BYTES but not UTF-8 text") from None


def instances(
    request: InferenceRequest, model: str, instance_shape: tuple[int, ...] | None
) -> Array:
    """The request's instances; ``BadRequest`` naming what is wrong with them."""
    inputs = request.inputs
    if not inputs:
        raise BadRequest(f"model {model!r}: the request has no inputs")
    if len(inputs) == 1:
        name = inputs[0].name
        x = tensor_array(inputs[0])
    else:
        name = ", ".join(tensor.name for tensor in inputs)
        x = feature_matrix(inputs, model=model)
    if x.ndim == 0 or len(x) == 0:
        raise BadRequest(f"model {model!r}: input {name!r} holds no instances")
    if x.dtype.kind in "OSU":
        if instance_shape is not None:
            raise BadRequest(
                f"model {model!r}: input {name!r} is BYTES; this detector takes numbers"
            )
        return _text(x, name)
    if instance_shape is not None:
        if x.ndim == 1 and instance_shape == (1,):
            x = x.reshape(-1, 1)
        if tuple(x.shape[1:]) != instance_shape:
            raise BadRequest(
                f"model {model!r}: input {name!r} has shape {list(x.shape)}; the detector takes"
                f" instances of shape {list(instance_shape)} (a [rows, "
                f"{', '.join(map(str, instance_shape)) or '...'}] tensor)"
            )
    return x
