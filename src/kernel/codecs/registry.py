"""The codec registry: content type -> codec, per level, filled through ``kernel_register_codecs``.

Built-in codecs come from the built-in ``codecs`` plugin, registered like any other plugin's.
A content type registered twice at the same level is a start-up error naming both plugins.
"""

from __future__ import annotations

import functools
from typing import Any

from kernel.codecs.base import CodecError, RequestCodec, TensorCodec
from kernel.errors import PluginLoadError

__all__ = ["CodecRegistry", "default_registry"]


class CodecRegistry:
    """Tensor-level and request-level codecs by content type, with the plugin of each."""

    def __init__(self) -> None:
        self._tensor: dict[str, tuple[TensorCodec, str]] = {}
        self._request: dict[str, tuple[RequestCodec, str]] = {}

    def add(self, codec: TensorCodec | RequestCodec, plugin: str) -> None:
        """Register ``codec`` on behalf of ``plugin``; ``PluginLoadError`` on a clash."""
        if not isinstance(codec, TensorCodec | RequestCodec):
            raise PluginLoadError(
                f"plugin {plugin!r} registered {codec!r}, which is neither a"
                " kernel.codecs.TensorCodec nor a kernel.codecs.RequestCodec instance"
            )
        name = getattr(codec, "content_type", "")
        if not isinstance(name, str) or not name:
            raise PluginLoadError(f"plugin {plugin!r} registered a codec with no content_type")
        tensor_level = isinstance(codec, TensorCodec)
        existing = (self._tensor if tensor_level else self._request).get(name)
        if existing is not None:
            level = "input-level" if tensor_level else "request-level"
            raise PluginLoadError(
                f"{level} codec {name!r} is registered twice: by plugin {existing[1]!r}"
                f" and by plugin {plugin!r}"
            )
        if isinstance(codec, TensorCodec):
            self._tensor[name] = (codec, plugin)
        else:
            self._request[name] = (codec, plugin)

    def names(self) -> list[str]:
        """Every known content type, either level."""
        return sorted(self._tensor.keys() | self._request.keys())

    def known(self, content_type: str) -> bool:
        return content_type in self._tensor or content_type in self._request

    def _unknown(self, content_type: str, what: str) -> CodecError:
        return CodecError(
            f"unknown content type {content_type!r}{what}; known content types:"
            f" {', '.join(self.names()) or 'none'}"
        )

    def check(self, content_type: Any, where: str) -> str:
        """``content_type`` as a known name; ``CodecError`` naming ``where`` otherwise."""
        if not isinstance(content_type, str) or not self.known(content_type):
            raise self._unknown(str(content_type), f" in {where}")
        return content_type

    def tensor(self, content_type: str, where: str = "") -> TensorCodec:
        """The input-level codec; ``CodecError`` listing the known ones."""
        entry = self._tensor.get(content_type)
        if entry is None:
            if content_type in self._request:
                raise CodecError(
                    f"content type {content_type!r}{where} works on a whole request, not on one"
                    f" tensor; input-level content types: {', '.join(sorted(self._tensor))}"
                )
            raise self._unknown(content_type, where)
        return entry[0]

    def request(self, content_type: str, where: str = "") -> RequestCodec:
        """The request-level codec; ``CodecError`` listing the known ones."""
        entry = self._request.get(content_type)
        if entry is None:
            if content_type in self._tensor:
                raise CodecError(
                    f"content type {content_type!r}{where} works on one tensor, not on a whole"
                    f" request; request-level content types: {', '.join(sorted(self._request))}"
                )
            raise self._unknown(content_type, where)
        return entry[0]

    def encoder_for(self, value: Any, name: str) -> TensorCodec:
        """The first input-level codec (in registration order) that can encode ``value``."""
        for codec, _ in self._tensor.values():
            if codec.can_encode(value):
                return codec
        raise CodecError(
            f"tensor {name!r}: no codec encodes a {type(value).__name__}"
            f" (input-level content types: {', '.join(sorted(self._tensor))})"
        )

    def request_encoder_for(self, value: Any) -> RequestCodec | None:
        """The first request-level codec that can encode ``value``, if any."""
        for codec, _ in self._request.values():
            if codec.can_encode(value):
                return codec
        return None

    def tensor_names(self) -> list[str]:
        return sorted(self._tensor)

    def tensor_codecs(self) -> list[TensorCodec]:
        return [c for c, _ in self._tensor.values()]

    def request_codecs(self) -> list[RequestCodec]:
        return [c for c, _ in self._request.values()]


@functools.cache
def default_registry() -> CodecRegistry:
    """A registry of the built-in codecs (for clients, and runtimes used outside a kernel).

    Built on first use, never at import time.
    """
    from kernel.default_plugins.codecs import builtin_codecs

    registry = CodecRegistry()
    for codec in builtin_codecs():
        registry.add(codec, "codecs")
    return registry
