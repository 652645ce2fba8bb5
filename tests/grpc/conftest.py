from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))
from echo_runtimes import GRPC_LIMIT, GRPC_MODELS, EchoTestPlugin, write_repository
from grpc_server import serving

from kernel.lifecycle import Kernel
from kernel.settings import ServerSettings


@pytest.fixture(scope="module")
def address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``host:port`` of a real Kernel (in-test runtimes registered through pluggy) behind the
    gRPC transport; stopped afterwards."""
    root = write_repository(Path(tmp_path_factory.mktemp("models")), GRPC_MODELS)
    settings = ServerSettings(
        model_repository_root=str(root), max_request_size=GRPC_LIMIT, graceful_timeout=1.0
    )
    kernel = Kernel(settings, plugins=[("grpc-test", EchoTestPlugin())], autoload=False)
    with serving(kernel, settings) as where:
        yield where
