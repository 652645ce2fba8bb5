from __future__ import annotations

from collections.abc import Iterator

import pytest
from core_helpers import EVENTS, GATES


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def _gates() -> Iterator[None]:
    GATES.clear()
    EVENTS.clear()
    yield
    for event in GATES.values():  # never leave a runtime thread blocked
        event.set()
