"""The built-in ``codecs`` plugin: registers the kernel's own content types (``np``, ``str``,
``base64``, ``datetime``, ``pd``, ``dict``) through ``kernel_register_codecs``, as a third-party
plugin registers its own. ``pd`` imports pandas only when it is used."""

from __future__ import annotations

from kernel.codecs.base import RequestCodec, TensorCodec
from kernel.hookspecs import RegisterCodec, hookimpl

__all__ = ["builtin_codecs"]


def builtin_codecs() -> list[TensorCodec | RequestCodec]:
    """Fresh instances of every built-in codec, in the order the registry tries them."""
    from kernel.codecs.base64 import Base64Codec
    from kernel.codecs.datetime import DatetimeCodec
    from kernel.codecs.dict import DictRequestCodec
    from kernel.codecs.np import NumpyCodec, NumpyRequestCodec
    from kernel.codecs.pd import PandasRequestCodec
    from kernel.codecs.str import StringCodec, StringRequestCodec

    return [
        NumpyCodec(),
        StringCodec(),
        Base64Codec(),
        DatetimeCodec(),
        NumpyRequestCodec(),
        StringRequestCodec(),
        PandasRequestCodec(),
        DictRequestCodec(),
    ]


@hookimpl
def kernel_register_codecs(register: RegisterCodec) -> None:
    for codec in builtin_codecs():
        register(codec)
