"""Content types: codecs between V2 tensors and Python values (numpy, str, bytes, datetimes,
pandas DataFrames, dicts). See docs/content-types.md.

Input-level codecs (``TensorCodec``): ``np``, ``str``, ``base64``, ``datetime``.
Request-level codecs (``RequestCodec``): ``np``, ``str``, ``pd``, ``dict``.
Plugins add codecs through the ``kernel_register_codecs`` hook.

Nothing is imported from pandas until a ``pd`` value is decoded or encoded.
"""

from __future__ import annotations

from kernel.codecs.api import decode_request, decode_response, encode_request, encode_response
from kernel.codecs.base import CodecError, RequestCodec, Tensor, TensorCodec
from kernel.codecs.registry import CodecRegistry, default_registry
from kernel.codecs.wire import CONTENT_TYPE, SCHEMA

__all__ = [
    "CONTENT_TYPE",
    "SCHEMA",
    "CodecError",
    "CodecRegistry",
    "RequestCodec",
    "Tensor",
    "TensorCodec",
    "decode_request",
    "decode_response",
    "default_registry",
    "encode_request",
    "encode_response",
]
