"""Check that a V2 server answers the benchmark's request correctly, REST and gRPC.

``versus.py`` calls :func:`check` on every server before measuring it: the outputs the load
requests, for the same rows, must equal what the model file computes in this process
(labels exactly, probabilities to 1e-9), so no server is timed while it answers errors or
something else.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import servers
import wire

Array = np.ndarray[Any, Any]
DTYPES = {"INT64": np.int64, "FP64": np.float64, "INT32": np.int32, "FP32": np.float32}


def expected(model_path: Path, x: Array, outputs: tuple[wire.OutputSpec, ...]) -> dict[str, Array]:
    """What the model file computes in-process for each output (a method of the estimator)."""
    import joblib

    model = joblib.load(model_path)
    return {o.name: np.asarray(getattr(model, o.name)(x)) for o in outputs}


def rest_outputs(port: int, x: Array, outputs: tuple[wire.OutputSpec, ...]) -> dict[str, Array]:
    """The outputs of one all-JSON REST infer request."""
    body = wire.rest_json_infer_request(x, outputs)
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/v2/models/{wire.MODEL}/infer",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            answer = json.loads(r.read())
    except urllib.error.HTTPError as exc:
        raise RuntimeError(f"REST infer: HTTP {exc.code}: {exc.read()[:300]!r}") from None
    return {out["name"]: np.asarray(out["data"]) for out in answer["outputs"]}


def grpc_outputs(port: int, x: Array, outputs: tuple[wire.OutputSpec, ...]) -> dict[str, Array]:
    """The outputs of one gRPC ModelInfer with ``raw_input_contents`` (read from
    ``raw_output_contents``, or typed contents if a server answered those)."""
    import grpc  # type: ignore[import-untyped]  # no stubs in the venv

    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        infer = channel.unary_unary(wire.INFER_PATH)
        try:
            raw = infer(wire.grpc_infer_request(x, outputs), timeout=10)
        except grpc.RpcError as exc:
            raise RuntimeError(f"gRPC infer: {exc.code()}: {exc.details()}") from None
    answer = wire.ModelInferResponse().parse(raw)
    found = {}
    for i, out in enumerate(answer.outputs):
        if i < len(answer.raw_output_contents):
            found[out.name] = np.frombuffer(answer.raw_output_contents[i], DTYPES[out.datatype])
        else:
            contents = out.contents
            typed = contents.fp64_contents or contents.int64_contents or contents.fp32_contents
            found[out.name] = np.asarray(typed)
    return found


def compare(got: dict[str, Array], want: dict[str, Array], where: str) -> None:
    """Raise with a message naming ``where`` and the output unless every output matches.

    Shapes are compared flattened: MLServer answers labels as ``[rows, 1]``, kernel as
    ``[rows]``; the values are what matters here.
    """
    for name, value in want.items():
        if name not in got:
            raise RuntimeError(f"{where}: output {name!r} missing (got {sorted(got)})")
        a, b = got[name].ravel(), value.ravel()
        if a.shape != b.shape:
            raise RuntimeError(f"{where}: {name}: {a.size} values, expected {b.size}")
        same = np.array_equal(a, b) if b.dtype.kind in "iub" else np.allclose(a, b, rtol=1e-9)
        if not same:
            raise RuntimeError(f"{where}: {name} differs from the model's own answer")


def check(
    server: servers.Server,
    model_path: Path,
    outputs: tuple[wire.OutputSpec, ...],
    rows: int = 150,
    timeout: float = 60.0,
) -> None:
    """Both transports answer ``rows`` iris rows as the model does in-process.

    Retried until ``timeout``: MLServer reports its model ready a moment before its
    inference worker can serve it.
    """
    x = wire.iris_rows(rows)
    want = expected(model_path, x, outputs)
    assert server.http_port is not None
    assert server.grpc_port is not None
    deadline = time.monotonic() + timeout
    while True:
        try:
            compare(rest_outputs(server.http_port, x, outputs), want, f"{server.name} REST")
            compare(grpc_outputs(server.grpc_port, x, outputs), want, f"{server.name} gRPC")
            return
        except (RuntimeError, OSError) as exc:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{server.name} does not answer correctly: {exc}") from None
            time.sleep(1.0)
