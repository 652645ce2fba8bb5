"""Under ``kernel serve --workers N`` a repository reload of a model that keeps state hands the
state over: the server's one copy (in the supervisor's pool) stops, saving its state, once
every server process has retired its share, and only then does the new copy start, restoring
it. The new copy continues from the old copy's final state, no save of the old copy lands after
the new copy's, requests in the gap get 503 saying why, and a failed reload brings the previous
settings back from the state just saved.

The model is ``tests/support/ledger.py``'s request counter, saved to a file at unload and read
back at load; its ``events.log`` records every load and unload with the count."""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from kernel.model_settings import ModelSettings
from kernel.repository import scan
from kernel.supervisor.pools import PoolKeeper, key_of
from kernel.workers.shared import SharedPool
from protocol.messages import InferenceRequest, RequestInput

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))
from ledger import events, saved, write_ledger
from server_process import Server, serve

pytestmark = [pytest.mark.slow]

BODY = {"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [0.0]}]}


def post(url: str, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
    """One call on a new connection (a fresh connection may land on either process)."""
    return httpx.post(f"{url}{path}", json=body or {}, timeout=60.0)


def count(server: Server, **parameters: Any) -> int:
    response = post(server.http_url, "/v2/models/m/infer", {**BODY, "parameters": parameters})
    assert response.status_code == 200, response.text
    return int(response.json()["outputs"][0]["data"][0])


class Background(threading.Thread):
    """A call made in a thread, so that the test can look at the server meanwhile."""

    def __init__(self, call: Any) -> None:
        super().__init__(daemon=True)
        self._call = call
        self.result: Any = None

    def run(self) -> None:
        self.result = self._call()

    def outcome(self) -> Any:
        self.join(60)
        assert not self.is_alive()
        return self.result


@pytest.fixture
def repository(tmp_path: Path) -> Iterator[tuple[Path, Server]]:
    folder = write_ledger(tmp_path / "models" / "m", "old")
    with serve(tmp_path / "models", tmp_path / "logs", workers=2) as server:
        yield folder, server


@pytest.mark.e2e
def test_a_reload_hands_the_state_over_between_pools(
    repository: tuple[Path, Server], tmp_path: Path
) -> None:
    folder, server = repository
    assert [count(server) for _ in range(4)] == [1, 2, 3, 4]  # one copy, whichever process
    release = tmp_path / "release"
    held = Background(lambda: count(server, wait_for=str(release)))
    held.start()
    time.sleep(0.5)  # the fifth request is running on the old copy
    write_ledger(folder, "new")
    reload = Background(lambda: post(server.http_url, "/v2/repository/models/m/load"))
    reload.start()
    time.sleep(1.0)
    # Every process has retired its copy (one of them is still draining the held request),
    # so the old pool cannot stop yet and the new one has not started: requests, whichever
    # process takes them, are refused with a 503 that says why.
    assert reload.is_alive()
    for _ in range(6):
        refused = post(server.http_url, "/v2/models/m/infer", BODY)
        assert refused.status_code == 503, refused.text
        assert "reloading: the model keeps state" in refused.json()["error"]
    assert httpx.get(f"{server.http_url}/v2/health/ready", timeout=10.0).status_code != 200
    release.touch()
    assert held.outcome() == 5  # the old copy's last request
    answer = reload.outcome()
    assert answer.status_code == 200, answer.text
    # The new copy started after the old one saved, so it continues from 5.
    assert events(folder) == ["load old 0", "unload old 5", "load new 5"]
    assert [count(server), count(server)] == [6, 7]
    assert server.stop() == 0
    # Nothing of the old copy's was written after the new copy's final save.
    assert events(folder) == ["load old 0", "unload old 5", "load new 5", "unload new 7"]
    assert saved(folder) == 7
    assert "did not give back their share" not in server.output()


@pytest.mark.e2e
def test_a_failed_reload_brings_the_previous_settings_back(
    repository: tuple[Path, Server],
) -> None:
    folder, server = repository
    assert [count(server), count(server)] == [1, 2]
    write_ledger(folder, "new", extra={"fail": True})
    answer = post(server.http_url, "/v2/repository/models/m/load")
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert "the new settings are broken" in error
    assert "its previous copy serves again" in error
    # The previous settings loaded again, in one new pool, from the state the old copy saved.
    assert events(folder) == ["load old 0", "unload old 2", "load old 2"]
    assert [count(server), count(server)] == [3, 4]
    assert httpx.get(f"{server.http_url}/v2/health/ready", timeout=10.0).status_code == 200
    assert server.stop() == 0
    assert events(folder)[-1] == "unload old 4"
    assert saved(folder) == 4


def settings_of(root: Path) -> ModelSettings:
    (source,) = scan(root)
    assert source.settings is not None
    return source.settings


def infer(pool: SharedPool) -> int:
    x = np.zeros(1, dtype=np.float32)
    response = pool.infer(InferenceRequest(inputs=[RequestInput("x", [1], "FP32", data=x)]), 0.0)
    return int(np.asarray(response.outputs[0].data)[0])


def test_a_share_never_given_back_holds_a_hand_over_up_only_until_the_timeout(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The keeper itself, with real worker processes: two server-process slots hold shares of
    the pool; during a hand-over only slot 0 gives its share back. The new pool starts anyway,
    after ``handover_timeout``, once the old one has stopped and saved its state."""
    root = tmp_path / "models"
    folder = write_ledger(root / "m", "old")

    async def scenario() -> tuple[float, int]:
        keeper = PoolKeeper(rows=4, handover_timeout=1.5)
        try:
            old = settings_of(root)
            first, second = await keeper.acquire(0, old), await keeper.acquire(1, old)
            assert first.generation == second.generation
            client = SharedPool(old, "model 'm'", first)
            assert [infer(client), infer(client)] == [1, 2]
            client.close()
            write_ledger(folder, "new")
            keeper.begin_load("m")
            await keeper.hand_over(key_of("m", None))
            await keeper.release(first.generation, first.row)  # slot 1 never gives it back
            began = time.monotonic()
            grant = await keeper.acquire(0, settings_of(root))
            waited = time.monotonic() - began
            await keeper.end_load("m")
            client = SharedPool(settings_of(root), "model 'm'", grant)
            try:
                return waited, infer(client)
            finally:
                client.close()
        finally:
            await keeper.close()

    with caplog.at_level(logging.ERROR, logger="kernel.supervisor"):
        waited, next_count = asyncio.run(scenario())
    assert waited >= 1.5
    assert "server process(es) 1 did not give back their share" in caplog.text
    assert next_count == 3  # the new pool restored what the old one saved when it stopped
    assert events(folder) == ["load old 0", "unload old 2", "load new 2", "unload new 3"]
