"""kernel.grpc.frames: the cheap DATA-frame repr says exactly what hyperframe's says."""

from __future__ import annotations

from pathlib import Path

import pytest
from hyperframe.frame import DataFrame, _raw_data_repr

from kernel.grpc.frames import data_frame_body_repr
from kernel.grpc.server import build_server
from kernel.lifecycle import Kernel
from kernel.settings import ServerSettings


def _original(frame: DataFrame) -> str:
    # hyperframe's own DataFrame repr body: the whole serialized body, hex, truncated.
    return _raw_data_repr(frame.serialize_body())


@pytest.mark.parametrize("size", [0, 1, 9, 10, 11, 12, 100, 16384])
@pytest.mark.parametrize("pad_length", [None, 0, 1, 3, 20])
def test_same_text_as_hyperframe(size: int, pad_length: int | None) -> None:
    data = bytes((i * 7) % 256 for i in range(size))
    frame = DataFrame(1, data=data, pad_length=pad_length or 0)
    if pad_length is not None:
        frame.flags.add("PADDED")
    assert data_frame_body_repr(frame) == _original(frame)


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_build_server_installs_it(tmp_path: Path, anyio_backend: str) -> None:
    # Async: grpclib's Server wants a current event loop, and after other suites have run
    # there is none outside a running one.
    kernel = Kernel(ServerSettings(model_repository_root=str(tmp_path)), autoload=False)
    build_server(kernel, kernel, kernel.settings)
    frame = DataFrame(1, data=b"\x01" * 40000)
    assert repr(frame) == f"DataFrame(stream_id=1, flags=[]): {_original(frame)}"
    assert DataFrame._body_repr is data_frame_body_repr
