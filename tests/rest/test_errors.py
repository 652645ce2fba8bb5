"""The REST error table over real HTTP: each bad input, its status and message, and the server
still answering afterwards."""

from __future__ import annotations

import gzip
import json
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))
from echo_runtimes import BROKEN_MESSAGE, BUG_SECRET, LOAD_FAILURE, REST_LIMIT
from rest_server import running

from kernel.lifecycle import Kernel
from kernel.rest.app import build_app
from kernel.settings import ServerSettings


@pytest.fixture(scope="module")
def http(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=10) as c:
        yield c


def _json(body: object) -> bytes:
    return json.dumps(body).encode()


def _one_input(**tensor: object) -> bytes:
    base: dict[str, object] = {"name": "x", "shape": [2], "datatype": "INT32", "data": [1, 2]}
    base.update(tensor)
    return _json({"inputs": [base]})


def _binary(size_claimed: int, blob: bytes) -> tuple[bytes, dict[str, str]]:
    header = _json(
        {
            "inputs": [
                {
                    "name": "x",
                    "shape": [2],
                    "datatype": "INT32",
                    "parameters": {"binary_data_size": size_claimed},
                }
            ]
        }
    )
    return header + blob, {"Inference-Header-Content-Length": str(len(header))}


GOOD = _one_input()
BOMB = gzip.compress(b"\0" * (REST_LIMIT * 4))
BAD_BINARY, BAD_BINARY_HEADERS = _binary(8, b"\1\0\0\0")

INFER = "/v2/models/echo/infer"

# (id, method, path, body, headers, status, fragment of the error message)
CASES: list[tuple[str, str, str, bytes, dict[str, str], int, str]] = [
    (
        "bad-json",
        "POST",
        INFER,
        b'{"inputs": [',
        {},
        400,
        "invalid inference request",
    ),
    ("json-not-object", "POST", INFER, b"[1, 2]", {}, 400, "object"),
    ("no-inputs", "POST", INFER, b"{}", {}, 400, "inputs"),
    (
        "unknown-datatype",
        "POST",
        INFER,
        _one_input(datatype="FP99"),
        {},
        400,
        "FP99",
    ),
    (
        "too-few-elements",
        "POST",
        INFER,
        _one_input(shape=[2, 2]),
        {},
        400,
        "4 elements",
    ),
    (
        "wrong-json-kind",
        "POST",
        INFER,
        _one_input(data=["a", "b"]),
        {},
        400,
        "input 'x'",
    ),
    (
        "bad-binary-size",
        "POST",
        INFER,
        BAD_BINARY,
        BAD_BINARY_HEADERS,
        400,
        "binary_data_size",
    ),
    (
        "header-length-past-body",
        "POST",
        INFER,
        GOOD,
        {"inference-header-content-length": str(len(GOOD) + 5)},
        400,
        "Inference-Header-Content-Length",
    ),
    (
        "header-length-not-int",
        "POST",
        INFER,
        GOOD,
        {"Inference-Header-Content-Length": "ten"},
        400,
        "'ten'",
    ),
    ("unknown-model", "POST", "/v2/models/nope/infer", GOOD, {}, 404, "nope"),
    ("unknown-version", "POST", "/v2/models/echo/versions/9/infer", GOOD, {}, 404, "'9'"),
    ("unknown-model-meta", "GET", "/v2/models/nope", b"", {}, 404, "nope"),
    ("unknown-model-config", "GET", "/v2/models/nope/versions/1/config", b"", {}, 404, "nope"),
    ("unknown-model-ready", "GET", "/v2/models/nope/ready", b"", {}, 404, "nope"),
    ("not-ready-infer", "POST", "/v2/models/weights/infer", GOOD, {}, 503, LOAD_FAILURE),
    ("not-ready-metadata", "GET", "/v2/models/weights", b"", {}, 503, "not ready"),
    ("runtime-raised", "POST", "/v2/models/broken/infer", GOOD, {}, 500, BROKEN_MESSAGE),
    ("unexpected-bug", "GET", "/v2/models/buggy", b"", {}, 500, "internal server error"),
    ("over-limit", "POST", INFER, b" " * (REST_LIMIT + 1), {}, 413, str(REST_LIMIT)),
    (
        "gzip-bomb",
        "POST",
        INFER,
        BOMB,
        {"Content-Encoding": "gzip"},
        413,
        "decompressed",
    ),
    (
        "bad-gzip",
        "POST",
        INFER,
        b"not gzip",
        {"Content-Encoding": "gzip"},
        400,
        "gzip",
    ),
    (
        "truncated-gzip",
        "POST",
        INFER,
        gzip.compress(GOOD)[:-12],
        {"Content-Encoding": "gzip"},
        400,
        "truncated",
    ),
    (
        "unknown-encoding",
        "POST",
        INFER,
        GOOD,
        {"Content-Encoding": "br"},
        400,
        "'br'",
    ),
    ("no-route", "GET", "/v2/nothing/here", b"", {}, 404, "/v2/nothing/here"),
    ("wrong-method", "GET", INFER, b"", {}, 405, "POST"),
    ("bad-index-body", "POST", "/v2/repository/index", b'{"ready": "yes"}', {}, 400, "ready"),
    (
        "load-with-config",
        "POST",
        "/v2/repository/models/echo/load",
        _json({"parameters": {"config": "{}"}}),
        {},
        400,
        "config",
    ),
    ("unload-unknown", "POST", "/v2/repository/models/nope/unload", b"", {}, 404, "nope"),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "headers", "status", "fragment"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_error_table(
    http: httpx.Client,
    method: str,
    path: str,
    body: bytes,
    headers: dict[str, str],
    status: int,
    fragment: str,
) -> None:
    response = http.request(method, path, content=body, headers=headers)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    message = response.json()["error"]
    assert isinstance(message, str)
    assert message
    assert fragment in message
    assert "Traceback" not in message
    # The server is still serving after every bad request.
    after = http.post("/v2/models/echo/infer", content=GOOD)
    assert after.status_code == 200, after.text
    assert after.json()["outputs"][0]["data"] == [1, 2]


def test_unexpected_error_does_not_leak(http: httpx.Client) -> None:
    response = http.get("/v2/models/buggy")
    assert response.status_code == 500
    assert BUG_SECRET not in response.text


def test_wrong_method_names_allowed_methods(http: httpx.Client) -> None:
    response = http.post("/v2/health/live")
    assert response.status_code == 405
    assert "GET" in response.headers["allow"]


def test_chunked_body_over_limit_is_413(http: httpx.Client) -> None:
    # A generator body goes out chunked, without Content-Length: counted while it streams.
    def chunks() -> Iterator[bytes]:
        for _ in range(8):
            yield b" " * (REST_LIMIT // 4)

    response = http.post("/v2/models/echo/infer", content=chunks())
    assert response.status_code == 413
    assert str(REST_LIMIT) in response.json()["error"]
    assert http.get("/v2/health/live").status_code == 200


def test_declared_body_over_limit_is_answered_413(http: httpx.Client) -> None:
    # Well past the limit: the client still reads the 413 (the rest of the body is dropped).
    response = http.post(INFER, content=b" " * (REST_LIMIT * 4))
    assert response.status_code == 413
    assert f"{REST_LIMIT * 4} bytes" in response.json()["error"]
    assert http.get("/v2/health/live").status_code == 200


def test_chunked_body_under_limit_is_read(http: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:
        yield GOOD[:10]
        yield GOOD[10:]

    response = http.post("/v2/models/echo/infer", content=chunks())
    assert response.status_code == 200, response.text


def test_not_ready_readiness_answers(http: httpx.Client) -> None:
    model = http.get("/v2/models/weights/ready")
    assert model.status_code == 503
    assert model.json() == {"name": "weights", "ready": False}
    server = http.get("/v2/health/ready")
    assert server.status_code == 503
    assert server.json() == {"ready": False}
    assert http.get("/v2/health/live").json() == {"live": True}


def test_raw_deflate_and_zlib_deflate_both_accepted(http: httpx.Client) -> None:
    raw = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    raw_body = raw.compress(GOOD) + raw.flush()
    for body in (zlib.compress(GOOD), raw_body):
        response = http.post(
            "/v2/models/echo/infer", content=body, headers={"Content-Encoding": "deflate"}
        )
        assert response.status_code == 200, response.text


def test_metrics_are_prometheus_text(http: httpx.Client) -> None:
    http.post("/v2/models/echo/infer", content=GOOD)
    response = http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert "kernel_infer_requests_total" in response.text


def test_metrics_can_be_turned_off(tmp_path: Path) -> None:
    settings = ServerSettings(model_repository_root=str(tmp_path), metrics=False)
    kernel = Kernel(settings, autoload=False)
    with running(build_app(kernel, kernel, settings), kernel) as url:
        response = httpx.get(url + "/metrics")
        assert response.status_code == 404
        assert "/metrics" in response.json()["error"]
        assert httpx.get(url + "/v2/health/ready").json() == {"ready": True}


def test_lowercase_header_length_with_json_only_body(http: httpx.Client) -> None:
    # The C++ client always sends the header, equal to Content-Length for an all-JSON body.
    response = http.post(
        "/v2/models/echo/infer",
        content=GOOD,
        headers={"inference-header-content-length": str(len(GOOD))},
    )
    assert response.status_code == 200, response.text
    assert "inference-header-content-length" not in response.headers
    assert response.headers["content-type"] == "application/json"


def test_repository_index_bodies(http: httpx.Client) -> None:
    everything = http.post("/v2/repository/index")
    assert everything.status_code == 200
    assert isinstance(everything.json(), list)
    ready_only = http.post("/v2/repository/index", content=_json({"ready": True}))
    assert ready_only.status_code == 200
    states = {entry["state"] for entry in ready_only.json()}
    assert states == {"READY"}
    assert len(ready_only.json()) < len(everything.json())
