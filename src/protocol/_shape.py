"""Shape checks shared by every tensor codec: done before anything is allocated."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from protocol.errors import ProtocolError

__all__ = ["MAX_DIMS", "MAX_ELEMENTS", "element_count", "format_shape"]

#: Largest element count a tensor may declare. Real tensors are bounded far lower by the request
#: size limit; this cap only stops a forged shape such as ``[2**40, 2**40]`` from reaching numpy.
MAX_ELEMENTS: Final = 2**32
#: numpy 1.x allows 32 dimensions (2.x allows 64); keep to the smaller so both work.
MAX_DIMS: Final = 32


def format_shape(shape: Sequence[int]) -> str:
    """``[2,3]``: the compact form error messages use."""
    return "[" + ",".join(str(d) for d in shape) + "]"


def element_count(shape: Sequence[int], tensor: str) -> int:
    """The number of elements ``shape`` holds, or a ``ProtocolError`` naming ``tensor``.

    Rejects negative dims, more than ``MAX_DIMS`` dims and any dim or product above
    ``MAX_ELEMENTS`` (a zero dim does not excuse a huge one: numpy could not build it).
    """
    if len(shape) > MAX_DIMS:
        raise ProtocolError(f"{tensor}: shape has {len(shape)} dimensions, at most {MAX_DIMS}")
    count = 1
    for dim in shape:
        if type(dim) is not int:
            raise ProtocolError(f"{tensor}: shape {list(shape)!r} must hold integers")
        if dim < 0:
            raise ProtocolError(f"{tensor}: shape {format_shape(shape)} has a negative dimension")
        if dim > MAX_ELEMENTS:
            raise ProtocolError(
                f"{tensor}: shape {format_shape(shape)} has a dimension above {MAX_ELEMENTS}"
            )
        count *= dim
    if count > MAX_ELEMENTS:
        raise ProtocolError(
            f"{tensor}: shape {format_shape(shape)} holds {count} elements, at most {MAX_ELEMENTS}"
        )
    return count
