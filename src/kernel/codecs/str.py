"""``str``: a BYTES tensor as a list of ``str`` (UTF-8), at input and request level."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from kernel.codecs.base import (
    CodecError,
    RequestCodec,
    Tensor,
    TensorCodec,
    flat_text,
    single,
    text_array,
    utf8,
)

__all__ = ["StringCodec", "StringRequestCodec"]


def _is_str_list(value: Any) -> bool:
    return isinstance(value, list | tuple) and all(isinstance(v, str) for v in value)


class StringCodec(TensorCodec):
    """Input-level ``str``: BYTES elements, row-major, decoded as UTF-8."""

    content_type = "str"
    python_types = ((list, str),)

    def decode(self, tensor: Tensor) -> Any:
        return utf8(flat_text(tensor, self.content_type), tensor.name)

    def encode(self, name: str, value: Any) -> Tensor:
        if isinstance(value, np.ndarray):
            value = value.reshape(-1).tolist()
        if not _is_str_list(value):
            raise CodecError(f"tensor {name!r}: content type 'str' encodes a list of str")
        items = [v.encode() for v in value]
        return Tensor(name, [len(items)], "BYTES", text_array(items), self.content_type)

    def can_encode(self, value: Any) -> bool:
        return _is_str_list(value) and len(value) > 0


class StringRequestCodec(RequestCodec):
    """Request-level ``str``: the message's single BYTES tensor as a list of ``str``."""

    content_type = "str"
    python_types = ((list, str),)

    def decode(self, tensors: Sequence[Tensor], codecs: Any) -> Any:
        return StringCodec().decode(single(tensors, self.content_type))

    def encode(self, value: Any, codecs: Any, names: Sequence[str] = ()) -> list[Tensor]:
        return [StringCodec().encode(names[0] if names else "output-0", value)]

    def can_encode(self, value: Any) -> bool:
        return StringCodec().can_encode(value)
