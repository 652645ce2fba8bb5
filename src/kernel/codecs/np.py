"""``np``: a tensor as a numpy array of its dtype and shape, at input and request level.

BYTES tensors decode to object arrays of ``bytes``; an array of ``str`` (numpy ``U``) encodes
to BYTES with ``meta`` ``{"text": true}`` so that it decodes back to ``str``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from kernel.codecs.base import CodecError, RequestCodec, Tensor, TensorCodec, single, text_array
from protocol.datatypes import datatype_for_dtype
from protocol.errors import ProtocolError

__all__ = ["NumpyCodec", "NumpyRequestCodec"]


class NumpyCodec(TensorCodec):
    """Input-level ``np``."""

    content_type = "np"
    python_types = (np.ndarray,)

    def decode(self, tensor: Tensor) -> Any:
        data = np.asarray(tensor.data).reshape(tensor.shape)
        if tensor.meta.get("text") and tensor.datatype == "BYTES":
            flat = [v.decode() if isinstance(v, bytes) else v for v in data.reshape(-1).tolist()]
            return np.array(flat, dtype=str).reshape(tensor.shape)
        return data

    def encode(self, name: str, value: Any) -> Tensor:
        array = np.asarray(value)
        meta = {"text": True} if array.dtype.kind == "U" else {}
        if array.dtype.kind in "OU":
            array = text_array(array.reshape(-1).tolist()).reshape(array.shape)
        try:
            row = datatype_for_dtype(array.dtype)
        except ProtocolError as exc:
            raise CodecError(f"tensor {name!r}: {exc}") from None
        shape = [int(d) for d in array.shape]
        return Tensor(name, shape, row.name, array, self.content_type, meta)

    def can_encode(self, value: Any) -> bool:
        return isinstance(value, np.ndarray) and value.dtype.kind not in "mM"


class NumpyRequestCodec(RequestCodec):
    """Request-level ``np``: the message's single tensor as an array."""

    content_type = "np"
    python_types = (np.ndarray,)

    def decode(self, tensors: Sequence[Tensor], codecs: Any) -> Any:
        return NumpyCodec().decode(single(tensors, self.content_type))

    def encode(self, value: Any, codecs: Any, names: Sequence[str] = ()) -> list[Tensor]:
        return [NumpyCodec().encode(names[0] if names else "output-0", value)]

    def can_encode(self, value: Any) -> bool:
        return NumpyCodec().can_encode(value)
