"""Fixtures for the end-to-end tests: one shared server over a trained model repository, and
the estimators it serves, to compare every prediction with."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from e2e_server import Repository, Server, serve, train_logistic, write_model


@pytest.fixture(scope="session")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Repository:
    root = tmp_path_factory.mktemp("models")
    iris = train_logistic()
    species = train_logistic(labels="str")
    write_model(root / "iris", iris, {"implementation": "sklearn"})
    write_model(
        root / "species",
        species,
        {
            "name": "species",
            "implementation": "kernel_sklearn.SKLearnRuntime",
            "parameters": {"version": "1", "extra": {"predict_fn": "predict"}},
        },
    )
    return Repository(root, iris, species)


@pytest.fixture(scope="session")
def server(repository: Repository, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One ``kernel serve`` for every test that does not change the repository."""
    with serve(repository.path, tmp_path_factory.mktemp("logs")) as running:
        yield running
