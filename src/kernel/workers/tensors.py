"""Tensors into a segment (or inline) and back out as numpy arrays.

The writer copies each tensor's bytes once, into a segment at a 64-byte aligned offset; the
reader makes ``np.frombuffer`` views of the mapping (zero-copy). BYTES tensors travel as the
protocol's length-prefixed blob (``encode_bytes_elements`` / ``decode_bytes_elements``), never
pickled.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from kernel.workers.arena import Arena, Segment
from kernel.workers.messages import TensorRef
from protocol.datatypes import get_datatype
from protocol.tensors import as_tensor_array, decode_bytes_elements, encode_bytes_elements

__all__ = ["INLINE_LIMIT", "Tensor", "pack", "unpack"]

#: Tensors up to this many bytes travel inside the message: cheaper than a segment.
INLINE_LIMIT: Final = 16 * 1024
_ALIGN: Final = 64

#: (name, shape, datatype, parameters, data) of one tensor to send.
Tensor = tuple[str, Sequence[int], str, dict[str, Any] | None, Any]


def _payload(name: str, shape: Sequence[int], datatype: str, data: Any) -> npt.NDArray[Any]:
    """The tensor as a C-contiguous array of its wire dtype (BYTES: the uint8 blob)."""
    row = get_datatype(datatype, name)
    array = as_tensor_array(data, row, shape, name)
    if row.itemsize == 0:
        return np.frombuffer(encode_bytes_elements(array, name), dtype=np.uint8)
    return np.ascontiguousarray(array, dtype=row.dtype)


def pack(tensors: Sequence[Tensor], arena: Arena) -> tuple[list[TensorRef], Segment | None]:
    """``TensorRef`` for each tensor, and the segment holding the large ones (or ``None``)."""
    payloads = [_payload(name, shape, dt, data) for name, shape, dt, _p, data in tensors]
    total = sum(-(-p.nbytes // _ALIGN) * _ALIGN for p in payloads if p.nbytes > INLINE_LIMIT)
    segment = arena.acquire(total) if total else None
    refs: list[TensorRef] = []
    offset = 0
    for (name, shape, datatype, params, _data), payload in zip(tensors, payloads, strict=True):
        nbytes = payload.nbytes
        if segment is None or nbytes <= INLINE_LIMIT:
            refs.append(
                TensorRef(name, list(shape), datatype, params, 0, nbytes, payload.tobytes())
            )
            continue
        target = np.ndarray(payload.shape, payload.dtype, buffer=segment.mm, offset=offset)
        np.copyto(target, payload)
        refs.append(TensorRef(name, list(shape), datatype, params, offset, nbytes))
        offset += -(-nbytes // _ALIGN) * _ALIGN
    return refs, segment


def unpack(ref: TensorRef, buffer: Any) -> npt.NDArray[Any]:
    """The array ``ref`` describes, a view of ``buffer`` (the segment's mapping) or of the
    inline bytes; BYTES elements are split out into an object array (copies)."""
    row = get_datatype(ref.datatype, ref.name)
    if ref.inline is not None:
        buffer, offset = ref.inline, 0
    elif buffer is None:
        raise ValueError(f"tensor {ref.name!r} refers to a segment that was not sent")
    else:
        offset = ref.offset
    if row.itemsize == 0:
        count = int(np.prod(ref.shape, dtype=np.int64))
        with memoryview(buffer) as whole, whole.cast("B") as flat:
            return decode_bytes_elements(
                flat[offset : offset + ref.nbytes], count, ref.name
            ).reshape(ref.shape)
    count = ref.nbytes // row.dtype.itemsize
    return np.frombuffer(buffer, dtype=row.dtype, count=count, offset=offset).reshape(ref.shape)
