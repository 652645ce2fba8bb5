"""A runtime that keeps state across requests (``Runtime.keeps_state``) is served by one copy
for the whole multi-process server: every server process's requests reach the same count."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from supervised import children, infer, pid_of, write_pid_model

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))
from server_process import Server, serve

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

#: Counts the requests it has answered; ``stateful`` in the settings says it keeps state.
COUNTER_RUNTIME = """
import os

import numpy as np

from kernel.runtime import Runtime
from protocol.messages import InferenceResponse, ResponseOutput


class Counter(Runtime):
    seen = 0

    @classmethod
    def keeps_state(cls, settings):
        return bool(settings.parameters.extra.get("stateful"))

    async def predict(self, request):
        self.seen += 1
        outputs = [
            ResponseOutput(name="pid", shape=[1], datatype="INT64",
                           data=np.array([os.getpid()], dtype=np.int64)),
            ResponseOutput(name="seen", shape=[1], datatype="INT64",
                           data=np.array([self.seen], dtype=np.int64)),
        ]
        return InferenceResponse(model_name=self.name, outputs=outputs)
"""


def write_counter(folder: Path, stateful: bool, **more: Any) -> None:
    folder.mkdir(parents=True)
    (folder / "models.py").write_text(COUNTER_RUNTIME)
    settings = {
        "name": folder.name,
        "implementation": "models.Counter",
        "parameters": {"extra": {"stateful": stateful}},
        **more,
    }
    (folder / "model-settings.json").write_text(json.dumps(settings))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("stateful")
    write_pid_model(root / "models" / "pid")
    write_counter(root / "models" / "counter", stateful=True)
    write_counter(root / "models" / "copies", stateful=False)
    write_counter(root / "models" / "split", stateful=True, parallel_workers=2)
    with serve(root / "models", root / "logs", workers=2) as running:
        yield running


def answers(server: Server, model: str) -> tuple[int, int]:
    """(pid, seen) from ``model``, asked on a fresh connection."""
    response = infer(server.http_url, model)
    assert response.status_code == 200, response.text
    outputs = {o["name"]: o["data"][0] for o in response.json()["outputs"]}
    return int(outputs["pid"]), int(outputs["seen"])


def test_a_stateful_model_has_one_copy_that_every_process_reaches(server: Server) -> None:
    processes = children(server.process.pid)
    served_by: set[int] = set()
    counts = []
    # Fresh connections land on either server process; go on until both have served.
    for _ in range(200):
        served_by.add(pid_of(infer(server.http_url, "pid")))
        pid, seen = answers(server, "counter")
        counts.append((pid, seen))
        if len(served_by) == 2 and len(counts) >= 10:
            break
    assert len(served_by) == 2, "fresh connections never reached the second process"
    assert [seen for _, seen in counts] == list(range(1, len(counts) + 1))
    (copy,) = {pid for pid, _ in counts}
    assert copy in processes
    assert copy not in served_by  # a worker of the server, not one of its server processes


def test_a_stateless_model_is_copied_into_every_process(server: Server) -> None:
    pids = set()
    for _ in range(200):
        pids.add(answers(server, "copies")[0])
        if len(pids) == 2:
            break
    assert len(pids) == 2


def test_a_stateful_model_asked_into_several_workers_is_warned_about(server: Server) -> None:
    # Each of its two workers keeps its own state: allowed (the operator asked), but said.
    assert answers(server, "split")[1] >= 1
    assert "model 'split' keeps state across requests, but parallel_workers is 2" in (
        server.output()
    )
