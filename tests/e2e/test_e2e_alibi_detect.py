"""The Alibi-Detect runtime through a real ``kernel serve``: drift detectors fitted here and
saved with ``save_detector``, driven with tritonclient over HTTP and gRPC, every answer compared
with the detector's own ``predict`` on the same data; windowed drift under concurrent clients,
an MLServer model folder run unchanged, clear 400s, and an online detector across a restart."""

from __future__ import annotations

import json
import logging
import random
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from e2e_server import Server, serve
from tritonclient.utils import InferenceServerException

pytest.importorskip("alibi_detect")
pytest.importorskip("kernel_alibi_detect")

pytestmark = pytest.mark.e2e

Array = np.ndarray[Any, Any]
WINDOW = 40
SEED = 7  # online thresholds are simulated at load; the same seed draws the same ones


def _rows(seed: int, n: int, shift: float = 0.0) -> Array:
    return np.random.default_rng(seed).normal(size=(n, 3)).astype(np.float32) + np.float32(shift)


X_REF = _rows(12, 400)
SAME = _rows(4, 200)
SHIFTED = _rows(2, 200, 1.0)


def _model(folder: Path, settings: dict[str, Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model-settings.json").write_text(json.dumps(settings))


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from alibi_detect.cd import CVMDriftOnline, KSDrift
    from alibi_detect.saving import save_detector

    logging.getLogger("alibi_detect").setLevel(logging.ERROR)
    root = tmp_path_factory.mktemp("alibi-models")
    save_detector(KSDrift(X_REF, p_val=0.05), root / "drift" / "detector")
    _model(
        root / "drift",
        {"name": "drift", "implementation": "alibi-detect", "parameters": {"uri": "detector"}},
    )
    # An MLServer model folder, as MLServer's own docs write it: class path and batch_size.
    shutil.copytree(root / "drift" / "detector", root / "drift-window" / "alibi-detect-artifact")
    _model(
        root / "drift-window",
        {
            "name": "drift-window",
            "implementation": "mlserver_alibi_detect.AlibiDetectRuntime",
            "parameters": {"uri": "./alibi-detect-artifact/", "extra": {"batch_size": WINDOW}},
        },
    )
    online = CVMDriftOnline(X_REF, ert=200, window_sizes=[20], n_bootstraps=1000, verbose=False)
    save_detector(online, root / "online-source")
    return root


@pytest.fixture(scope="module")
def server(repository: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    models = tmp_path_factory.mktemp("alibi-served")
    for name in ("drift", "drift-window"):
        shutil.copytree(repository / name, models / name)
    with serve(models, tmp_path_factory.mktemp("alibi-logs")) as running:
        yield running


@pytest.fixture(scope="module")
def two_processes(repository: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``kernel serve --workers 2``: the window must still be one, not one per process."""
    models = tmp_path_factory.mktemp("alibi-served-2")
    shutil.copytree(repository / "drift-window", models / "drift-window")
    with serve(models, tmp_path_factory.mktemp("alibi-logs-2"), workers=2) as running:
        yield running


def own(x: Array, **kwargs: Any) -> dict[str, Any]:
    from alibi_detect.cd import KSDrift

    return dict(KSDrift(X_REF, p_val=0.05).predict(x, **kwargs)["data"])


def check(result: Any, x: Array, names: list[str]) -> None:
    want = own(x)
    for name in names:
        np.testing.assert_array_equal(
            result.as_numpy(name), np.asarray(want[name]).reshape(-1), err_msg=name
        )


def http_infer(server: Server, model: str, x: Array, **options: Any) -> Any:
    with httpclient.InferenceServerClient(url=server.http_address) as client:
        inp = httpclient.InferInput("x", list(x.shape), "FP32")
        inp.set_data_from_numpy(x, binary_data=options.pop("binary", True))
        return client.infer(model, [inp], **options)


def grpc_infer(server: Server, model: str, x: Array, **options: Any) -> Any:
    client = grpcclient.InferenceServerClient(url=server.grpc_address)
    try:
        inp = grpcclient.InferInput("x", list(x.shape), "FP32")
        inp.set_data_from_numpy(x)
        return client.infer(model, [inp], **options)
    finally:
        client.close()


ALL = ["is_drift", "distance", "p_val", "threshold"]


def test_http_binary_and_json_match_the_detector(server: Server) -> None:
    for x, drift in ((SAME, 0), (SHIFTED, 1)):
        result = http_infer(server, "drift", x)
        assert result.as_numpy("is_drift").tolist() == [drift]
        check(result, x, ALL)
        response = result.get_response()
        assert response["parameters"]["name"] == "KSDrift"
        assert response["parameters"]["detector_type"] == "drift"
    requested = [
        httpclient.InferRequestedOutput(n, binary_data=False) for n in ("p_val", "is_drift")
    ]
    result = http_infer(server, "drift", SHIFTED, binary=False, outputs=requested)
    assert [o["name"] for o in result.get_response()["outputs"]] == ["p_val", "is_drift"]
    check(result, SHIFTED, ["p_val", "is_drift"])


def test_grpc_matches_the_detector_and_takes_request_parameters(server: Server) -> None:
    result = grpc_infer(server, "drift", SHIFTED)
    check(result, SHIFTED, ALL)
    result = grpc_infer(
        server, "drift", SHIFTED, parameters={"drift_type": "feature", "return_p_val": False}
    )
    want = own(SHIFTED, drift_type="feature", return_p_val=False)
    np.testing.assert_array_equal(result.as_numpy("is_drift"), want["is_drift"])
    assert result.as_numpy("p_val") is None  # not computed: not an output


def test_metadata_names_the_detector(server: Server) -> None:
    with httpx.Client(base_url=server.http_url, timeout=30) as client:
        meta = client.get("/v2/models/drift").json()
    assert meta["platform"] == "alibi-detect"
    [tensor] = meta["inputs"]
    assert (tensor["name"], tensor["datatype"], tensor["shape"]) == ("input-0", "FP32", [-1, 3])
    assert tensor["parameters"]["detector"] == "KSDrift"
    assert tensor["parameters"]["detector_type"] == "drift"
    assert [(o["name"], o["datatype"], o["shape"]) for o in meta["outputs"]] == [
        ("is_drift", "INT64", [1]),
        ("distance", "FP32", [3]),
        ("p_val", "FP32", [3]),
        ("threshold", "FP64", [1]),
    ]


def test_bad_requests_say_what_is_wrong(server: Server) -> None:
    with pytest.raises(InferenceServerException, match=r"instances of shape \[3\]") as caught:
        http_infer(server, "drift", np.zeros((4, 5), dtype=np.float32))
    assert caught.value.status() == "400"
    with pytest.raises(InferenceServerException, match="drift_type must be 'batch' or 'feature'"):
        http_infer(server, "drift", SAME, parameters={"drift_type": "window"})
    with pytest.raises(InferenceServerException, match="return_test_stat is not a keyword") as grpc:
        grpc_infer(server, "drift", SAME, parameters={"return_test_stat": True})
    assert grpc.value.status() == "StatusCode.INVALID_ARGUMENT"
    with pytest.raises(InferenceServerException, match="cannot produce output 'score'"):
        http_infer(server, "drift", SAME, outputs=[httpclient.InferRequestedOutput("score")])


@pytest.mark.parametrize("served_by", ["server", "two_processes"])
def test_mlserver_folder_windows_across_concurrent_clients(
    served_by: str, request: pytest.FixtureRequest
) -> None:
    """16 clients, half over HTTP and half over gRPC, send 1..9 instances at a time: every
    instance lands in exactly one window, and every caller is answered, also when the server
    runs two processes (each client's calls open fresh connections, which land on either)."""
    server: Server = request.getfixturevalue(served_by)
    clients, calls = 16, 12
    sizes = [
        [random.Random(c * 31 + i).randint(1, 9) for i in range(calls)] for c in range(clients)
    ]
    answers: list[tuple[int, int]] = []
    failures: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(clients)

    def client(c: int) -> None:
        try:
            start.wait()
            for i, n in enumerate(sizes[c]):
                x = _rows(c * 1000 + i, n)
                if c % 2:
                    result = http_infer(server, "drift-window", x)
                    tests = int(result.get_response()["parameters"]["window_tests"])
                else:
                    result = grpc_infer(server, "drift-window", x)
                    params = result.get_response(as_json=True)["parameters"]
                    tests = int(params["window_tests"]["int64_param"])
                with lock:
                    answers.append((tests, int(result.as_numpy("window_count")[0])))
        except BaseException as err:  # reported below: a thread's assert is otherwise lost
            failures.append(err)

    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures
    total = sum(map(sum, sizes))
    assert len(answers) == clients * calls
    assert all(0 <= count < WINDOW for _, count in answers)
    assert max(answers) == divmod(total, WINDOW)
    # the next caller completes the open window exactly when it sends what is missing
    missing = WINDOW - total % WINDOW
    result = http_infer(server, "drift-window", SHIFTED[:missing])
    assert result.as_numpy("window_count").tolist() == [0]
    assert result.get_response()["parameters"]["window_tests"] == total // WINDOW + 1


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_online_detector_continues_across_a_restart(
    repository: Path, tmp_path_factory: pytest.TempPathFactory, workers: int
) -> None:
    """Also with two server processes: the one copy (a pooled worker) saves at shut-down."""
    from alibi_detect.saving import load_detector

    models = tmp_path_factory.mktemp("alibi-online")
    shutil.copytree(repository / "online-source", models / "online" / "detector")
    _model(
        models / "online",
        {
            "name": "online",
            "implementation": "alibi-detect",
            "parameters": {"uri": "detector", "extra": {"seed": SEED, "state_save_freq": 1000}},
        },
    )
    stream = np.vstack([SAME[:30], SHIFTED[:30]])
    logs = tmp_path_factory.mktemp("alibi-online-logs")
    with serve(models, logs, workers=workers) as first:
        # binary outputs: thresholds and statistics are NaN until the window fills
        before = http_infer(first, "online", stream[:25])
        assert before.as_numpy("time").tolist() == list(range(1, 26))
    # SIGTERM unloads the model, which saves its state (no periodic save happened)
    assert (models / "online" / "detector-state" / "state.npz").is_file()
    with serve(models, logs, workers=workers) as second:
        after = grpc_infer(second, "online", stream[25:])
    np.random.seed(SEED)
    detector = load_detector(models / "online" / "detector")
    results = [detector.predict(row)["data"] for row in stream]
    assert after.as_numpy("time").tolist() == list(range(26, 61))
    for name in ("is_drift", "threshold", "test_stat"):
        want = np.stack([np.asarray(r[name]) for r in results[25:]])
        np.testing.assert_array_equal(after.as_numpy(name), want, err_msg=name)
    assert after.as_numpy("is_drift").any()  # the shifted half is found
