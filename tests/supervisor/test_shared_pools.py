"""``kernel serve --workers 2`` with a model in a worker pool: one pool for the whole server.

The model ``pair`` asks for ``parallel_workers: 2``: the server runs exactly two worker
processes for it (not two per server process), both server processes send requests to them,
dispatch counts the calls of every server process, a killed worker is replaced, and the
repository API starts and stops the pool once.

Which server process handles a request is known by keeping HTTP connections open: a
connection stays with the process that accepted it, and the in-process ``pid`` model answers
that process's pid on it.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from supervised import children, write_pid_model

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workers"))
from server_process import Server, serve
from worker_models import probe_model

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def worker_pids(server: Server) -> set[int]:
    """Every worker process of the server: the supervisor's children that run
    ``kernel.workers.main`` (the server processes are its other children)."""
    found = set()
    for pid in children(server.process.pid):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"kernel.workers.main" in command:
            found.add(pid)
    return found


def call(client: httpx.Client, model: str, sleep: float = 0.0, **extra: Any) -> httpx.Response:
    body = {
        "inputs": [{"name": "x", "shape": [1], "datatype": "FP64", "data": [1.0]}],
        "parameters": {"sleep": sleep, **extra},
    }
    return client.post(f"/v2/models/{model}/infer", json=body)


def worker_of(response: httpx.Response) -> int:
    assert response.status_code == 200, response.text
    outputs = {o["name"]: o["data"] for o in response.json()["outputs"]}
    return int(outputs["pid"][0])


def process_of(client: httpx.Client) -> int:
    """The server process this client's connection is with."""
    body = {"inputs": [{"name": "seconds", "shape": [1], "datatype": "FP64", "data": [0.0]}]}
    response = client.post("/v2/models/pid/infer", json=body)
    assert response.status_code == 200, response.text
    return int(response.json()["outputs"][0]["data"][0])


def wait_for(predicate: Any, what: str, limit: float = 60.0) -> None:
    give_up = time.monotonic() + limit
    while not predicate():
        assert time.monotonic() < give_up, f"timed out waiting until {what}"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("shared")
    models = root / "models"
    probe_model(models, "pair", parallel_workers=2)
    write_pid_model(models / "pid")
    with serve(models, root / "logs", workers=2) as running:
        yield running


@pytest.fixture(scope="module")
def by_process(server: Server) -> Iterator[dict[int, list[httpx.Client]]]:
    """Two open connections to each server process, by the process's pid."""
    found: dict[int, list[httpx.Client]] = {}
    spare: list[httpx.Client] = []
    for _ in range(200):
        client = httpx.Client(base_url=server.http_url, timeout=60.0)
        owned = found.setdefault(process_of(client), [])
        (owned if len(owned) < 2 else spare).append(client)
        if len(found) == 2 and all(len(c) == 2 for c in found.values()):
            break
    for client in spare:
        client.close()
    assert len(found) == 2, found
    assert all(len(c) == 2 for c in found.values()), found
    yield found
    for clients in found.values():
        for client in clients:
            client.close()


def test_one_pool_of_two_serves_both_server_processes(
    server: Server, by_process: dict[int, list[httpx.Client]]
) -> None:
    pool = worker_pids(server)
    assert len(pool) == 2  # parallel_workers in total, not per server process
    assert set(by_process) == children(server.process.pid) - pool
    clients = [c for pair in by_process.values() for c in pair]
    with ThreadPoolExecutor(len(clients)) as threads:
        # Concurrent calls from both processes keep both workers busy.
        answers = list(threads.map(lambda c: worker_of(call(c, "pair", 0.5)), clients))
    assert set(answers) == pool
    for process, pair in by_process.items():
        assert {worker_of(call(c, "pair")) for c in pair} <= pool, process


def test_least_busy_counts_the_calls_of_every_server_process(
    server: Server, by_process: dict[int, list[httpx.Client]]
) -> None:
    """One process keeps a worker busy with a long call; the other process's calls all go to
    the idle worker. Counting per process would send them to its own preferred worker, the
    busy one (the long call is placed there on purpose: it is the first process's second
    call, made while its first, short call holds the other worker)."""
    (first, _), (second, _) = by_process.items()
    a, b = by_process[first]
    with ThreadPoolExecutor(2) as threads:
        short = threads.submit(call, a, "pair", 0.8)
        time.sleep(0.3)  # so that the long call sees the short one in flight
        long = threads.submit(call, b, "pair", 4.0)
        busy = worker_of(short.result())  # the long call holds the other worker now
        started = time.monotonic()
        quick = [worker_of(call(c, "pair")) for c in by_process[second] for _ in range(3)]
        elapsed = time.monotonic() - started
        held = worker_of(long.result())
    assert held != busy
    assert set(quick) == {busy}, (quick, held)
    assert elapsed < 2.0


def test_killed_worker_fails_its_call_and_is_replaced(
    server: Server, by_process: dict[int, list[httpx.Client]]
) -> None:
    pool = worker_pids(server)
    (first, second) = list(by_process)
    with ThreadPoolExecutor(1) as threads:
        doomed = threads.submit(call, by_process[first][0], "pair", 5.0)
        time.sleep(0.5)
        # The long call holds one worker, so a quick call goes to the other: kill the first.
        quick = worker_of(call(by_process[second][0], "pair"))
        victim = next(iter(pool - {quick}))
        os.kill(victim, signal.SIGKILL)
        failed = doomed.result()
    assert failed.status_code == 500, failed.text
    error = failed.json()["error"]
    assert f"worker process {victim} died (killed by SIGKILL)" in error
    assert "model 'pair'" in error
    # The other worker serves both processes meanwhile; a replacement joins the pool.
    for clients in by_process.values():
        assert worker_of(call(clients[0], "pair")) in pool
    wait_for(
        lambda: len(worker_pids(server)) == 2 and victim not in worker_pids(server),
        "the worker is replaced",
    )
    fresh = worker_pids(server) - pool
    assert len(fresh) == 1
    # Once it has loaded, both server processes reach the replacement (each connects to it
    # on a call after it was published).
    seen: dict[int, set[int]] = {process: set() for process in by_process}

    def both_reach_it() -> bool:
        with ThreadPoolExecutor(4) as threads:
            running = [
                (process, threads.submit(call, client, "pair", 0.3))
                for process, pair in by_process.items()
                for client in pair
            ]
            for process, future in running:
                seen[process].add(worker_of(future.result()))
        return all(fresh <= workers for workers in seen.values())

    wait_for(both_reach_it, "both server processes reach the replacement")
    assert set().union(*seen.values()) <= pool | fresh
    assert len(worker_pids(server)) == 2
    assert "Traceback" not in server.output()


def test_repository_load_reload_and_unload_start_and_stop_the_pool_once(
    server: Server, by_process: dict[int, list[httpx.Client]]
) -> None:
    url = server.http_url
    repository = _repository(server)
    probe_model(repository, "late", parallel_workers=2)
    try:
        before = worker_pids(server)
        assert httpx.post(f"{url}/v2/repository/models/late/load", timeout=120).status_code == 200
        late = worker_pids(server) - before
        assert len(late) == 2
        clients = [c for pair in by_process.values() for c in pair]
        with ThreadPoolExecutor(4) as threads:
            answers = set(threads.map(lambda c: worker_of(call(c, "late", 0.5)), clients))
        assert answers == late
        # A reload starts a fresh pool once; the old one stops once both processes let go.
        assert httpx.post(f"{url}/v2/repository/models/late/load", timeout=120).status_code == 200
        wait_for(lambda: len(worker_pids(server)) == 4, "the old pool stops")
        reloaded = worker_pids(server) - before
        assert not reloaded & late
        assert {worker_of(call(c, "late")) for c in clients} <= reloaded
        # An unload stops it before it answers.
        assert httpx.post(f"{url}/v2/repository/models/late/unload", timeout=120).status_code == 200
        assert worker_pids(server) == before
        assert all(call(c, "late").status_code == 404 for c in clients)
    finally:
        httpx.post(f"{url}/v2/repository/models/late/unload", timeout=120)


def _repository(server: Server) -> Path:
    """The model folder the server serves (from its command line)."""
    command = server.process.args
    assert isinstance(command, list)
    return Path(command[command.index("serve") + 1])
