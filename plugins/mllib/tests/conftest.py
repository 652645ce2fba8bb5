"""One SparkSession and one set of trained models for the whole session: Spark starts in
seconds and trains in seconds more, so nothing is done twice."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from mllib_support import Trained, start_session, train


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    session = start_session()
    yield session
    session.stop()


@pytest.fixture(scope="session")
def trained(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> Trained:
    return train(spark, tmp_path_factory.mktemp("spark-models"))
