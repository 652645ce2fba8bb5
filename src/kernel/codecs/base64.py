"""``base64``: BYTES elements holding base64 text, decoded to ``bytes`` (and back)."""

from __future__ import annotations

import base64
import binascii
from typing import Any

import numpy as np

from kernel.codecs.base import CodecError, Tensor, TensorCodec, flat_text, text_array

__all__ = ["Base64Codec"]


class Base64Codec(TensorCodec):
    """Input-level ``base64``: each element is base64 text; the value is a list of ``bytes``."""

    content_type = "base64"
    python_types = ((list, bytes),)

    def decode(self, tensor: Tensor) -> Any:
        out: list[bytes] = []
        for index, item in enumerate(flat_text(tensor, self.content_type)):
            try:
                out.append(base64.b64decode(item, validate=True))
            except (binascii.Error, ValueError) as exc:
                raise CodecError(
                    f"tensor {tensor.name!r}: element {index} is not base64: {exc}"
                ) from None
        return out

    def encode(self, name: str, value: Any) -> Tensor:
        if isinstance(value, np.ndarray):
            value = value.reshape(-1).tolist()
        if not isinstance(value, list | tuple) or not all(
            isinstance(v, bytes | bytearray) for v in value
        ):
            raise CodecError(f"tensor {name!r}: content type 'base64' encodes a list of bytes")
        items = [base64.b64encode(bytes(v)) for v in value]
        return Tensor(name, [len(items)], "BYTES", text_array(items), self.content_type)

    def can_encode(self, value: Any) -> bool:
        return (
            isinstance(value, list)
            and len(value) > 0
            and all(isinstance(v, bytes | bytearray) for v in value)
        )
