"""Fixtures for the multi-process server tests: a model repository whose runtime answers with
the pid of the process that served it, and a ``kernel serve --workers 2`` over it."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from supervised import write_pid_model

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))
from server_process import Server, serve


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("models")
    write_pid_model(root / "pid")
    write_pid_model(root / "other")
    return root


@pytest.fixture(scope="module")
def server(models: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One two-process server for the tests that leave it as they found it."""
    with serve(models, tmp_path_factory.mktemp("logs"), workers=2) as running:
        yield running
