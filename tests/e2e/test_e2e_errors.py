"""Bad requests over REST, each with its status and a message that names what was wrong, and
the server still serving after all of them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest
from e2e_server import ROWS, Repository, Server

pytestmark = pytest.mark.e2e


def body(
    shape: list[int] | None = None,
    data: Any = None,
    datatype: str = "FP64",
    outputs: list[str] | None = None,
) -> bytes:
    request: dict[str, Any] = {
        "inputs": [
            {
                "name": "input-0",
                "shape": shape if shape is not None else list(ROWS.shape),
                "datatype": datatype,
                "data": data if data is not None else ROWS.reshape(-1).tolist(),
            }
        ]
    }
    if outputs is not None:
        request["outputs"] = [{"name": name} for name in outputs]
    return json.dumps(request).encode()


INFER = "/v2/models/iris/infer"

#: (case, path, body, status, fragments of the error message)
CASES: list[tuple[str, str, bytes, int, list[str]]] = [
    (
        "wrong feature count",
        INFER,
        body([4, 3], ROWS[:, :3].reshape(-1).tolist()),
        400,
        ["expects 4 features per row", "has 3"],
    ),
    (
        "unknown output",
        INFER,
        body(outputs=["predict", "probabilities"]),
        400,
        ["'probabilities'", "predict, predict_proba"],
    ),
    ("unknown model", "/v2/models/lily/infer", body(), 404, ["lily"]),
    ("unknown version", "/v2/models/species/versions/7/infer", body(), 404, ["7"]),
    ("bad datatype", INFER, body(datatype="FP65"), 400, ["FP65"]),
    ("wrong element count", INFER, body([4, 4], [1.0, 2.0, 3.0, 4.0]), 400, ["16", "4"]),
    ("text in a number tensor", INFER, body([1, 4], ["a", "b", "c", "d"]), 400, ["input-0"]),
    ("truncated JSON", INFER, b'{"inputs": [{"name": "input-0"', 400, ["truncated"]),
    ("malformed JSON", INFER, b'{"inputs": [}', 400, ["malformed"]),
    ("JSON of the wrong shape", INFER, b'{"inputs": {"name": 3}}', 400, ["inputs"]),
    ("no inputs", INFER, b'{"inputs": []}', 400, ["no inputs"]),
    ("three-dimensional input", INFER, body([1, 4, 4]), 400, ["[1, 4, 4]"]),
]


@pytest.fixture(scope="module")
def http(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.http_url, timeout=30) as client:
        yield client


@pytest.mark.parametrize(
    ("path", "content", "status", "fragments"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_bad_request(
    http: httpx.Client, path: str, content: bytes, status: int, fragments: list[str]
) -> None:
    response = http.post(path, content=content, headers={"Content-Type": "application/json"})
    assert response.status_code == status, response.text
    message = response.json()["error"]
    for fragment in fragments:
        assert fragment.lower() in message.lower(), message


def test_still_serving_after_bad_requests(
    http: httpx.Client, repository: Repository, server: Server
) -> None:
    for _, path, content, _, _ in CASES:
        http.post(path, content=content)
    assert http.get("/v2/health/ready").status_code == 200
    response = http.post(INFER, content=body(outputs=["predict"]))
    assert response.status_code == 200
    (output,) = response.json()["outputs"]
    assert output["data"] == repository.iris.predict(ROWS).tolist()
    assert server.process.poll() is None
    assert np.asarray(output["shape"]).tolist() == [len(ROWS)]
