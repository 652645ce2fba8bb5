"""What a codec is: the two kinds, and the neutral tensor form they read and write.

A ``TensorCodec`` (input level) turns one tensor into a Python value and back (``np``, ``str``,
``base64``, ``datetime``). A ``RequestCodec`` (request level) turns every tensor of a request or
response into one value and back (``np``, ``str``, ``pd``, ``dict``). Both read and write
``Tensor``: name, shape, datatype, an ndarray, the tensor's content type and its ``meta`` (the
dtype details a round trip needs, kept in the message's ``content_schema`` parameter).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import numpy.typing as npt

from kernel.errors import BadRequest

if TYPE_CHECKING:
    from kernel.codecs.registry import CodecRegistry

__all__ = ["CodecError", "Meta", "RequestCodec", "Tensor", "TensorCodec"]

#: JSON-able details of one tensor's Python type (``{"dtype": "Int64", "na": [3]}``).
Meta = dict[str, Any]


class CodecError(BadRequest):
    """A value or tensor a codec cannot convert (HTTP 400); the message names the tensor."""


@dataclass(slots=True)
class Tensor:
    """One tensor between the wire messages and the codecs. ``data`` has ``shape``."""

    name: str
    shape: list[int]
    datatype: str
    data: npt.NDArray[Any]
    content_type: str | None = None
    meta: Meta = field(default_factory=dict)


class TensorCodec(ABC):
    """Input-level codec: one tensor <-> one Python value.

    ``python_types`` are the annotations a typed ``predict`` may use to ask for this codec
    (``list[str]`` is given as ``list`` with ``item_type`` ``str``).
    """

    content_type: ClassVar[str]
    python_types: ClassVar[tuple[Any, ...]] = ()

    @abstractmethod
    def decode(self, tensor: Tensor) -> Any:
        """The Python value of ``tensor``; raise ``CodecError`` naming it when impossible."""

    @abstractmethod
    def encode(self, name: str, value: Any) -> Tensor:
        """``value`` as a tensor named ``name`` (with ``content_type`` and any ``meta``)."""

    def can_encode(self, value: Any) -> bool:
        """Whether ``encode`` takes ``value``; used to pick a codec for a returned value."""
        return False


class RequestCodec(ABC):
    """Request-level codec: every tensor of a message <-> one Python value.

    ``codecs`` is the registry in use, so that the codec can decode or encode each tensor
    with the tensor's own content type.
    """

    content_type: ClassVar[str]
    python_types: ClassVar[tuple[Any, ...]] = ()

    @abstractmethod
    def decode(self, tensors: Sequence[Tensor], codecs: CodecRegistry) -> Any:
        """The Python value of the message's tensors."""

    @abstractmethod
    def encode(self, value: Any, codecs: CodecRegistry, names: Sequence[str] = ()) -> list[Tensor]:
        """``value`` as tensors; ``names`` are preferred tensor names where the value has none."""

    def can_encode(self, value: Any) -> bool:
        return False


def single(tensors: Sequence[Tensor], content_type: str) -> Tensor:
    """The one tensor a single-tensor request codec works on; ``CodecError`` otherwise."""
    if len(tensors) != 1:
        names = ", ".join(repr(t.name) for t in tensors) or "none"
        raise CodecError(
            f"content type {content_type!r} takes exactly one tensor, got {len(tensors)} ({names})"
        )
    return tensors[0]


def flat_text(tensor: Tensor, what: str) -> list[bytes]:
    """The elements of a BYTES tensor, row-major, as ``bytes``."""
    if tensor.datatype != "BYTES":
        raise CodecError(
            f"tensor {tensor.name!r}: content type {what!r} needs BYTES data, got {tensor.datatype}"
        )
    out: list[bytes] = []
    for value in np.asarray(tensor.data).reshape(-1).tolist():
        out.append(value.encode() if isinstance(value, str) else bytes(value))
    return out


def utf8(values: Sequence[bytes], tensor: str) -> list[str]:
    """Decode every element as UTF-8; ``CodecError`` naming the first that is not."""
    try:
        return [v.decode() for v in values]
    except UnicodeDecodeError:
        for index, v in enumerate(values):
            try:
                v.decode()
            except UnicodeDecodeError as exc:
                raise CodecError(
                    f"tensor {tensor!r}: element {index} is not UTF-8: {exc}"
                ) from None
        raise


def text_array(values: Sequence[str | bytes]) -> npt.NDArray[np.object_]:
    """An object array of ``values`` (what a BYTES tensor holds)."""
    out = np.empty(len(values), dtype=object)
    out[:] = list(values)
    return out
