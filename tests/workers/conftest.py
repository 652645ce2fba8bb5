"""Fixtures for the worker-pool tests (model folders come from ``worker_models``)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"
