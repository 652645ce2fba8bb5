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
    ``MAX_ELEMENTS``. A zero dim does not excuse huge other ones: numpy refuses to build (even
    empty) an array whose other dims multiply past its index range, so the product of the
    nonzero dims is bounded too.
    """
    if len(shape) > MAX_DIMS:
        raise ProtocolError(f"{tensor}: shape has {len(shape)} dimensions, at most {MAX_DIMS}")
    count = extent = 1
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
        extent *= dim or 1
    if extent > MAX_ELEMENTS and count == 0:
        raise ProtocolError(
            f"{tensor}: shape {format_shape(shape)} is too large: its nonzero dimensions "
            f"multiply to {extent}, at most {MAX_ELEMENTS}"
        )
    if count > MAX_ELEMENTS:
        raise ProtocolError(
            f"{tensor}: shape {format_shape(shape)} holds {count} elements, at most {MAX_ELEMENTS}"
        )
    return count
