"""``kernel serve --workers 2``: one server made of two processes sharing the ports."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import httpx
import pytest
from supervised import (
    children,
    infer,
    pid_of,
    requests_total,
    sigterm_while_predicting,
    write_pid_model,
)
from tritonclient.grpc import InferenceServerClient as GrpcClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))
from server_process import Server, serve

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _pids_until_both(server: Server, model: str, limit: int = 400) -> tuple[set[int], int]:
    """Send requests on fresh connections until two processes have answered; (pids, sent)."""
    pids: set[int] = set()
    sent = 0
    while len(pids) < 2 and sent < limit:
        pids.add(pid_of(infer(server.http_url, model)))
        sent += 1
    return pids, sent


def test_requests_spread_over_processes_and_metrics_count_all(server: Server) -> None:
    workers = children(server.process.pid)
    assert len(workers) == 2
    before = requests_total(server.http_url, "pid")
    pids, sent = _pids_until_both(server, "pid")
    assert pids == workers  # both processes served, and nothing else did
    extra = 20
    for _ in range(extra):
        infer(server.http_url, "pid")
    # Whichever process answers /metrics, it reports the whole server.
    for _ in range(6):
        assert requests_total(server.http_url, "pid") - before == sent + extra


def test_readiness_and_grpc_server_ready(server: Server) -> None:
    for _ in range(10):
        assert httpx.get(f"{server.http_url}/v2/health/ready").status_code == 200
    client = GrpcClient(server.grpc_address)
    try:
        assert client.is_server_ready()
    finally:
        client.close()


def test_load_and_unload_apply_to_every_process(server: Server, models: Path) -> None:
    url = server.http_url
    write_pid_model(models / "late")  # a folder added after start
    try:
        assert httpx.post(f"{url}/v2/repository/models/late/load", timeout=60).status_code == 200
        # The load answered once every process had it: no request may miss it now.
        pids, _ = _pids_until_both(server, "late")
        assert len(pids) == 2
        # gRPC takes the same path: an unload through one process's gRPC port.
        client = GrpcClient(server.grpc_address)
        try:
            client.unload_model("other")
        finally:
            client.close()
        for _ in range(20):
            assert infer(url, "other").status_code == 404
            assert httpx.get(f"{url}/v2/models/other/ready").status_code == 404
        reloaded = httpx.post(f"{url}/v2/repository/models/other/load", timeout=60)
        assert reloaded.status_code == 200
        pids, _ = _pids_until_both(server, "other")
        assert len(pids) == 2
        # An error from the processes reaches the caller, from whichever process took it.
        for _ in range(4):
            missing = httpx.post(f"{url}/v2/repository/models/nope/load", timeout=60)
            assert missing.status_code == 404
            assert "nope" in missing.json()["error"]
    finally:
        httpx.post(f"{url}/v2/repository/models/late/unload", timeout=60)


def test_a_killed_process_is_replaced_with_the_current_model_set(tmp_path: Path) -> None:
    models = tmp_path / "models"
    write_pid_model(models / "pid", load_seconds=2.0)
    write_pid_model(models / "gone")
    with serve(models, tmp_path / "logs", workers=2) as server:
        url = server.http_url
        write_pid_model(models / "late")
        assert httpx.post(f"{url}/v2/repository/models/late/load", timeout=60).status_code == 200
        assert httpx.post(f"{url}/v2/repository/models/gone/unload", timeout=60).status_code == 200
        before = children(server.process.pid)
        victim = min(before)
        os.kill(victim, signal.SIGKILL)
        killed_at = time.monotonic()
        replacement: set[int] = set()
        saw_not_ready_with_two = False
        answered = 0
        while time.monotonic() - killed_at < 60:
            now = children(server.process.pid)
            ready = httpx.get(f"{url}/v2/health/ready").status_code == 200
            if len(now) == 2 and victim not in now and not ready:
                # The new process exists but is still loading: the server is not ready.
                saw_not_ready_with_two = True
            # Meanwhile the surviving process answers every request.
            assert pid_of(infer(url, "pid")) != victim
            answered += 1
            if ready and len(now) == 2 and victim not in now:
                replacement = now - before
                break
            time.sleep(0.05)
        assert replacement, f"no replacement became ready:\n{server.output()}"
        assert saw_not_ready_with_two
        assert time.monotonic() - killed_at < 30
        assert answered > 0
        # The new process holds what the server held: "late" loaded, "gone" unloaded.
        pids, _ = _pids_until_both(server, "late")
        assert replacement <= pids
        for _ in range(10):
            assert infer(url, "gone").status_code == 404
        assert server.stop() == 0


def test_sigterm_finishes_requests_in_flight_and_exits_0(tmp_path: Path) -> None:
    models = tmp_path / "models"
    started = tmp_path / "started"
    started.mkdir()
    write_pid_model(models / "pid", started_dir=started)
    with serve(models, tmp_path / "logs", workers=2) as server:
        results, _ = sigterm_while_predicting(server, started, 6)
        assert results == [200] * 6
        assert server.process.wait(30) == 0
        assert children(server.process.pid) == set()
