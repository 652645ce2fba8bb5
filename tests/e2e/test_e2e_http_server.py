"""The REST behaviours kernel relies on, against both HTTP servers (``http_server`` setting):
hypercorn (the default) and uvicorn with httptools.

Each server runs as the real ``kernel serve`` over the same repository; only the
``http_server`` field of the repository's ``settings.json`` differs. The requests come from
tritonclient and plain HTTP clients.
"""

from __future__ import annotations

import gzip
import http.client
import json
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import tritonclient.http as httpclient
from e2e_server import ROWS, Server, serve, train_logistic, write_model
from sklearn.linear_model import LogisticRegression

# The pid-reporting (and optionally slow) model of the multi-process tests.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "supervisor"))
from supervised import children, infer, pid_of, sigterm_while_predicting, write_pid_model

pytestmark = pytest.mark.e2e

SERVERS = ["hypercorn", "uvicorn"]
#: Above the large-tensor request below, small enough that over-limit bodies stay cheap.
LIMIT = 4 * 1024 * 1024
INFER = "/v2/models/iris/infer"


def _settings(root: Path, http_server: str, **more: Any) -> None:
    (root / "settings.json").write_text(json.dumps({"http_server": http_server, **more}))


def _json_body(rows: np.ndarray[Any, Any] = ROWS) -> dict[str, Any]:
    return {
        "inputs": [
            {
                "name": "input-0",
                "shape": list(rows.shape),
                "datatype": "FP64",
                "data": rows.reshape(-1).tolist(),
            }
        ],
        "outputs": [{"name": "predict"}],
    }


def _rest_line(server: Server) -> str:
    lines = [line for line in server.output().splitlines() if "REST on http://" in line]
    assert lines, server.output()
    return lines[0]


@dataclass
class Served:
    name: str
    server: Server
    iris: LogisticRegression


@pytest.fixture(scope="module", params=SERVERS)
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    name: str = request.param
    root = tmp_path_factory.mktemp(f"models-{name}")
    iris = train_logistic()
    write_model(root / "iris", iris, {"implementation": "sklearn"})
    _settings(root, name, max_request_size=LIMIT)
    with serve(root, tmp_path_factory.mktemp(f"logs-{name}")) as server:
        yield Served(name, server, iris)


@pytest.fixture
def client(served: Served) -> Iterator[Any]:
    c = httpclient.InferenceServerClient(url=served.server.http_address, concurrency=4)
    yield c
    c.close()


def test_the_chosen_server_serves_without_access_log(served: Served) -> None:
    assert _rest_line(served.server).endswith(f"({served.name})")
    for _ in range(5):
        assert httpx.post(served.server.http_url + INFER, json=_json_body()).status_code == 200
    # No line per request: on uvicorn/httptools the log line would cost more than the parse.
    assert INFER not in served.server.output()


def test_health_metadata_and_config(client: Any) -> None:
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.is_model_ready("iris")
    assert not client.is_model_ready("no-such-model")
    assert client.get_server_metadata()["name"]
    meta = client.get_model_metadata("iris")
    assert meta["inputs"] == [{"name": "input-0", "datatype": "FP64", "shape": [-1, 4]}]
    config = client.get_model_config("iris")
    assert [(i["name"], i["data_type"]) for i in config["input"]] == [("input-0", "TYPE_FP64")]


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
@pytest.mark.parametrize("compression", [None, "gzip"], ids=["plain", "gzip"])
def test_infer(client: Any, served: Served, binary: bool, compression: str | None) -> None:
    inp = httpclient.InferInput("input-0", list(ROWS.shape), "FP64")
    inp.set_data_from_numpy(ROWS, binary_data=binary)
    outputs = [
        httpclient.InferRequestedOutput("predict", binary_data=binary),
        httpclient.InferRequestedOutput("predict_proba", binary_data=binary),
    ]
    result = client.infer("iris", [inp], outputs=outputs, request_compression_algorithm=compression)
    np.testing.assert_array_equal(result.as_numpy("predict"), served.iris.predict(ROWS))
    np.testing.assert_allclose(result.as_numpy("predict_proba"), served.iris.predict_proba(ROWS))


def test_large_tensors_both_ways(client: Any, served: Served) -> None:
    # 3.2 MB of FP64 in, 0.8 MB of INT64 and 2.4 MB of FP64 out: several reads and writes per
    # message, through each server's flow control.
    rows = np.tile(ROWS, (25_000, 1))
    assert LIMIT // 2 < rows.nbytes < LIMIT
    inp = httpclient.InferInput("input-0", list(rows.shape), "FP64")
    inp.set_data_from_numpy(rows)
    outputs = [
        httpclient.InferRequestedOutput("predict"),
        httpclient.InferRequestedOutput("predict_proba"),
    ]
    for _ in range(3):
        result = client.infer("iris", [inp], outputs=outputs)
        np.testing.assert_array_equal(result.as_numpy("predict"), np.tile([0, 1, 2, 2], 25_000))
        assert result.as_numpy("predict_proba").shape == (100_000, 3)


def test_concurrent_requests_on_kept_alive_connections(client: Any, served: Served) -> None:
    inp = httpclient.InferInput("input-0", list(ROWS.shape), "FP64")
    inp.set_data_from_numpy(ROWS)
    pending = [client.async_infer("iris", [inp]) for _ in range(64)]
    expected = served.iris.predict(ROWS)
    for request in pending:
        np.testing.assert_array_equal(request.get_result().as_numpy("predict"), expected)


def test_one_connection_serves_many_requests(served: Served) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", served.server.http_port, timeout=30)
    try:
        body = json.dumps(_json_body()).encode()
        sockets = set()
        for _ in range(20):
            conn.request("POST", INFER, body, {"Content-Type": "application/json"})
            response = conn.getresponse()
            assert response.status == 200
            assert json.loads(response.read())["outputs"][0]["data"] == [0, 1, 2, 2]
            assert response.getheader("connection", "").lower() != "close"
            # Neither server names itself (hypercorn's and uvicorn's defaults would).
            assert response.getheader("server") is None
            sockets.add(id(conn.sock))
        assert len(sockets) == 1  # http.client would have reconnected on a closed connection
    finally:
        conn.close()


def test_gzip_body_by_hand(served: Served) -> None:
    body = gzip.compress(json.dumps(_json_body()).encode())
    response = httpx.post(
        served.server.http_url + INFER, content=body, headers={"Content-Encoding": "gzip"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["outputs"][0]["data"] == served.iris.predict(ROWS).tolist()


def test_bad_json_is_400_with_error_body(served: Served) -> None:
    response = httpx.post(served.server.http_url + INFER, content=b'{"inputs": [}')
    assert response.status_code == 400
    assert "malformed" in response.json()["error"].lower()


def test_declared_body_over_the_limit_is_413(served: Served) -> None:
    with httpx.Client(base_url=served.server.http_url, timeout=30) as http_client:
        response = http_client.post(INFER, content=b" " * (LIMIT * 4))
        assert response.status_code == 413
        assert f"{LIMIT * 4} bytes" in response.json()["error"]
        assert "max_request_size" in response.json()["error"]
        assert http_client.get("/v2/health/live").status_code == 200


def test_chunked_body_over_the_limit_is_413(served: Served) -> None:
    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it streams in
        for _ in range(8):
            yield b" " * (LIMIT // 4)

    with httpx.Client(base_url=served.server.http_url, timeout=30) as http_client:
        response = http_client.post(INFER, content=chunks())
        assert response.status_code == 413
        assert str(LIMIT) in response.json()["error"]
        assert http_client.get("/v2/health/live").status_code == 200


def test_gzip_bomb_is_413(served: Served) -> None:
    body = gzip.compress(b" " * (LIMIT * 4))  # small on the wire, 4x the limit inflated
    assert len(body) < LIMIT // 64
    response = httpx.post(
        served.server.http_url + INFER, content=body, headers={"Content-Encoding": "gzip"}
    )
    assert response.status_code == 413


@pytest.mark.slow
@pytest.mark.parametrize("http_server", SERVERS)
def test_two_processes_share_the_port_and_drain_on_sigterm(
    tmp_path: Path, http_server: str
) -> None:
    models = tmp_path / "models"
    started = tmp_path / "started"
    started.mkdir()
    write_pid_model(models / "pid", started_dir=started)
    _settings(models, http_server)
    with serve(models, tmp_path / "logs", workers=2) as server:
        workers = children(server.process.pid)
        assert len(workers) == 2
        rest_lines = [line for line in server.output().splitlines() if "REST on" in line]
        assert len(rest_lines) == 2
        assert all(f"({http_server})" in line for line in rest_lines)
        # Fresh connections land on either process: both answer on the one shared port.
        pids: set[int] = set()
        for _ in range(400):
            pids.add(pid_of(infer(server.http_url, "pid")))
            if pids == workers:
                break
        assert pids == workers
        for f in started.iterdir():
            f.unlink()

        # SIGTERM while requests are being predicted: each finishes with 200, then exit 0,
        # without waiting out graceful_timeout (30 s) for an idle keep-alive connection.
        idle = http.client.HTTPConnection("127.0.0.1", server.http_port, timeout=30)
        idle.request("GET", "/v2/health/live")
        assert idle.getresponse().read() is not None
        results, signalled = sigterm_while_predicting(server, started, 4)
        assert results == [200] * 4
        assert server.process.wait(30) == 0, server.output()
        assert time.monotonic() - signalled < 15, server.output()
        idle.close()
