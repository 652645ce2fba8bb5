"""The gRPC client's own timeout (``grpc-timeout``, tritonclient's ``client_timeout``) is the
request's deadline: a worker still running the request past it is stopped and replaced, so the
model serves the next request at once instead of after the abandoned one."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException
from worker_models import probe_model

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))
from server_process import Server, serve

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("deadline")
    probe_model(root / "models", "slow", parallel_workers=1)
    probe_model(root / "models", "inproc")
    with serve(root / "models", root / "logs") as running:
        yield running


def infer(server: Server, model: str, sleep: float, client_timeout: float) -> int:
    """One gRPC inference; the pid of the process that ran it."""
    client = grpcclient.InferenceServerClient(server.grpc_address)
    try:
        x = grpcclient.InferInput("x", [1], "FP64")
        x.set_data_from_numpy(np.array([1.0]))
        result = client.infer(
            model, [x], parameters={"sleep": sleep}, client_timeout=client_timeout
        )
        pid = result.as_numpy("pid")
        assert pid is not None
        return int(pid[0])
    finally:
        client.close()


def test_client_timeout_stops_the_worker_and_the_next_request_is_served(server: Server) -> None:
    before = infer(server, "slow", 0.0, 30.0)
    started = time.monotonic()
    with pytest.raises(InferenceServerException) as caught:
        infer(server, "slow", 30.0, 1.0)
    assert time.monotonic() - started < 3.0
    assert caught.value.status() == "StatusCode.DEADLINE_EXCEEDED"
    # The worker that was wedged on it has been replaced: the next request does not wait
    # for the abandoned 30 s one (only for the replacement to start).
    started = time.monotonic()
    after = infer(server, "slow", 0.0, 20.0)
    assert time.monotonic() - started < 15.0
    assert after != before
    output = server.output()
    assert f"worker process {before} died (killed after request" in output
    assert "Traceback" not in output


def test_in_process_model_answers_deadline_exceeded_without_a_traceback(server: Server) -> None:
    started = time.monotonic()
    with pytest.raises(InferenceServerException) as caught:
        infer(server, "inproc", 3.0, 0.5)
    assert time.monotonic() - started < 2.5
    assert caught.value.status() == "StatusCode.DEADLINE_EXCEEDED"
    # The server runs the abandoned predict to its end (it cannot stop a thread) and serves on.
    assert infer(server, "inproc", 0.0, 20.0) == server.process.pid
    assert "Traceback" not in server.output()
