from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from grpc_runtimes import LIMIT, GrpcTestPlugin, write_repository
from grpc_server import serving

from kernel.lifecycle import Kernel
from kernel.settings import ServerSettings


@pytest.fixture(scope="module")
def address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``host:port`` of a real Kernel (in-test runtimes registered through pluggy) behind the
    gRPC transport; stopped afterwards."""
    root = write_repository(Path(tmp_path_factory.mktemp("models")))
    settings = ServerSettings(
        model_repository_root=str(root), max_request_size=LIMIT, graceful_timeout=1.0
    )
    kernel = Kernel(settings, plugins=[("grpc-test", GrpcTestPlugin())], autoload=False)
    with serving(kernel, settings) as where:
        yield where
