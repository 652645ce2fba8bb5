"""``dict``: every tensor of a message as ``{name: value}``, each decoded with its own content
type (``np`` when it has none); encoding picks each value's codec from its type."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from kernel.codecs.base import CodecError, RequestCodec, Tensor

if TYPE_CHECKING:
    from kernel.codecs.registry import CodecRegistry

__all__ = ["DictRequestCodec"]


class DictRequestCodec(RequestCodec):
    """Request-level ``dict``."""

    content_type = "dict"
    python_types = (dict,)

    def decode(self, tensors: Sequence[Tensor], codecs: CodecRegistry) -> Any:
        return {t.name: codecs.tensor(t.content_type or "np").decode(t) for t in tensors}

    def encode(self, value: Any, codecs: CodecRegistry, names: Sequence[str] = ()) -> list[Tensor]:
        if not isinstance(value, Mapping):
            raise CodecError(f"content type 'dict' encodes a dict, got {type(value).__name__}")
        out = []
        for name, item in value.items():
            if not isinstance(name, str):
                raise CodecError(f"content type 'dict': key {name!r} is not a str")
            out.append(codecs.encoder_for(item, name).encode(name, item))
        return out

    def can_encode(self, value: Any) -> bool:
        return isinstance(value, dict) and all(isinstance(k, str) for k in value)
