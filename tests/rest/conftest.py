from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))
from echo_runtimes import LOAD_FAILURE, REST_LIMIT, REST_MODELS, EchoTestPlugin, write_repository
from rest_server import running

from kernel.lifecycle import Kernel
from kernel.rest.app import build_app
from kernel.settings import ServerSettings


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Kernel (in-test runtimes registered through pluggy) behind the REST app, served by
    hypercorn on a free loopback port; stopped afterwards."""
    root = write_repository(Path(tmp_path_factory.mktemp("models")), REST_MODELS)
    settings = ServerSettings(
        model_repository_root=str(root), max_request_size=REST_LIMIT, graceful_timeout=1.0
    )
    kernel = Kernel(settings, plugins=[("rest-test", EchoTestPlugin())], autoload=False)
    with running(build_app(kernel, kernel, settings), kernel) as url:
        yield url


@pytest.fixture
def all_ready(base_url: str) -> Iterator[str]:
    """The server with every model READY: the model whose load fails is unloaded meanwhile,
    then loaded again (and fails again, with its reason, as a 400)."""
    with httpx.Client(base_url=base_url, timeout=10) as http:
        assert http.post("/v2/repository/models/weights/unload").status_code == 200
        try:
            yield base_url
        finally:
            reload = http.post("/v2/repository/models/weights/load")
            assert reload.status_code == 400
            assert LOAD_FAILURE in reload.json()["error"]
