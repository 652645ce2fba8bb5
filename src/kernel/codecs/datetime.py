"""``datetime``: BYTES elements holding ISO-8601 text <-> ``datetime`` values.

Decoding gives a list of ``datetime.datetime`` (timezone-aware when the text has an offset).
Encoding takes a list of ``datetime``/``date`` or a numpy ``datetime64`` array; numpy values
are written at their own unit, so nanoseconds survive.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np

from kernel.codecs.base import CodecError, Tensor, TensorCodec, flat_text, text_array, utf8

__all__ = ["DatetimeCodec"]


class DatetimeCodec(TensorCodec):
    """Input-level ``datetime``."""

    content_type = "datetime"
    python_types = ((list, dt.datetime),)

    def decode(self, tensor: Tensor) -> Any:
        out: list[dt.datetime] = []
        for index, text in enumerate(utf8(flat_text(tensor, self.content_type), tensor.name)):
            try:
                out.append(dt.datetime.fromisoformat(text))
            except ValueError:
                raise CodecError(
                    f"tensor {tensor.name!r}: element {index} ({text!r}) is not an ISO-8601"
                    " date-time"
                ) from None
        return out

    def encode(self, name: str, value: Any) -> Tensor:
        if isinstance(value, np.ndarray) and value.dtype.kind == "M":
            texts = np.datetime_as_string(value.reshape(-1)).tolist()
        elif isinstance(value, list | tuple) and all(isinstance(v, dt.date) for v in value):
            texts = [v.isoformat() for v in value]
        else:
            raise CodecError(
                f"tensor {name!r}: content type 'datetime' encodes a list of datetime or a"
                " datetime64 array"
            )
        items = [t.encode() for t in texts]
        return Tensor(name, [len(items)], "BYTES", text_array(items), self.content_type)

    def can_encode(self, value: Any) -> bool:
        if isinstance(value, np.ndarray):
            return bool(value.dtype.kind == "M")
        return (
            isinstance(value, list)
            and len(value) > 0
            and all(isinstance(v, dt.date) for v in value)
        )
