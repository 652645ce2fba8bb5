"""The ceilings with the model in them: what running the model costs inside *any* server.

``python benchmarks/ceiling_model.py rest|grpc --port P --rows N --model PATH`` serves the same
trivial app as ``ceilings.py`` (bare ASGI on hypercorn / grpclib with the pass-through codec),
except that every infer call first runs the scikit-learn model at PATH on the request's rows
(the methods named by ``--outputs``: by default the four perf_analyzer's requests ask for),
inline on the event loop or with ``--threaded`` in the loop's thread pool. Binary-extension
and gRPC requests: the model reads an ``np.frombuffer`` view of the received bytes and the
answer is the fixed response. An all-JSON REST request (no ``Inference-Header-Content-Length``,
as ``versus.py`` sends): the body is parsed with ``msgspec.json.decode`` into plain lists, the
rows become an FP64 array, and the answer is the model's outputs encoded as V2 JSON: the least
any server answering that request must do, hence ``versus.py --floors``.

Its CPU per request minus the plain ceiling's is what the model costs when it runs interleaved
with a server's work, to compare with the model's CPU in a tight in-process loop (the figure
``run.py`` subtracts): the difference is the model's own slowdown inside a server (cold caches,
collections of a bigger heap), which kernel cannot remove. Used by ``ab.py --ceilings
--ceiling-model``.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

import ceilings
import msgspec
import numpy as np
import wire


def _model_calls(path: str, outputs: ceilings.Outputs) -> list[tuple[wire.OutputSpec, Any]]:
    import joblib

    model = joblib.load(path)
    return [(o, getattr(model, o.name)) for o in outputs if hasattr(model, o.name)]


#: ``--threaded``: run the model in the loop's default thread pool, as kernel runs it off the
#: loop (the usual way to keep a blocking call off an event loop), instead of inline.
THREADED = False


async def _predict(calls: list[tuple[wire.OutputSpec, Any]], x: Any) -> list[Any]:
    def run() -> list[Any]:
        return [call(x) for _, call in calls]

    if THREADED:
        return await asyncio.get_running_loop().run_in_executor(None, run)
    return run()


def _json_answer(calls: list[tuple[wire.OutputSpec, Any]], results: list[Any]) -> bytes:
    """The V2 JSON response carrying ``results`` (flat ``data``, as servers answer)."""
    return msgspec.json.encode(
        {
            "model_name": wire.MODEL,
            "model_version": "1",
            "outputs": [
                {
                    "name": o.name,
                    "datatype": o.datatype,
                    "shape": list(r.shape),
                    "data": r.ravel().tolist(),
                }
                for (o, _), r in zip(calls, results, strict=True)
            ],
        }
    )


def build_rest(rows: int, outputs: ceilings.Outputs, path: str) -> Any:
    """The ASGI ceiling, running the model on each infer body first."""
    inner = ceilings.build_asgi_app(rows, outputs)
    calls = _model_calls(path, outputs)
    infer_path = f"/v2/models/{wire.MODEL}/infer"

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] != infer_path:
            await inner(scope, receive, send)
            return
        header_length = None
        for key, value in scope["headers"]:
            if key.lower() == b"inference-header-content-length":
                header_length = int(value)
        chunks = []
        more = True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = bool(message.get("more_body", False))
        body = b"".join(chunks)
        if header_length is None:
            await _answer_json(body, calls, send)
            return
        x = np.frombuffer(memoryview(body)[header_length:], dtype=np.float64).reshape(-1, 4)
        await _predict(calls, x)
        done = False

        async def replay() -> dict[str, Any]:
            nonlocal done
            if done:
                return {"type": "http.disconnect"}
            done = True
            return {"type": "http.request", "body": b"", "more_body": False}

        await inner(scope, replay, send)

    return app


async def _answer_json(body: bytes, calls: list[tuple[wire.OutputSpec, Any]], send: Any) -> None:
    """Parse an all-JSON request, run the model on its one input, answer its outputs in JSON."""
    tensor = msgspec.json.decode(body)["inputs"][0]
    x = np.asarray(tensor["data"], dtype=np.float64).reshape(tensor["shape"])
    payload = _json_answer(calls, await _predict(calls, x))
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
    ]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


class GrpcModelCeiling(ceilings.GrpcCeiling):
    """The raw gRPC ceiling, running the model on the request's raw input first."""

    def __init__(self, rows: int, outputs: ceilings.Outputs, path: str) -> None:
        super().__init__(rows, outputs, raw=True)
        self.rows = rows
        self.calls = _model_calls(path, outputs)

    async def model_infer(self, stream: Any) -> None:
        data = await stream.recv_message()
        # perf_analyzer writes raw_input_contents last: the input is the message's tail.
        x = np.frombuffer(memoryview(data)[-self.rows * 32 :], dtype=np.float64).reshape(-1, 4)
        await _predict(self.calls, x)
        await stream.send_message(self.response)


async def serve_grpc(port: int, rows: int, outputs: ceilings.Outputs, path: str) -> None:
    """Serve the gRPC model ceiling on 127.0.0.1:port until SIGTERM/SIGINT."""
    await ceilings.serve_grpclib(GrpcModelCeiling(rows, outputs, path), port, ceilings.RawCodec())


async def serve_rest(port: int, rows: int, outputs: ceilings.Outputs, path: str) -> None:
    """Serve the REST model ceiling on 127.0.0.1:port until SIGTERM/SIGINT."""
    await ceilings.serve_asgi(build_rest(rows, outputs, path), port)


def main() -> None:
    """CLI entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("transport", choices=["rest", "grpc"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--rows", type=int, default=1)
    parser.add_argument("--model", required=True, help="the scikit-learn model.joblib")
    parser.add_argument("--outputs", default=wire.format_outputs(wire.IRIS_OUTPUTS))
    parser.add_argument("--threaded", action="store_true", help="predict in a thread pool")
    args = parser.parse_args()
    global THREADED
    THREADED = args.threaded
    outputs = wire.parse_outputs(args.outputs)
    if args.transport == "rest":
        asyncio.run(serve_rest(args.port, args.rows, outputs, args.model))
    else:
        asyncio.run(serve_grpc(args.port, args.rows, outputs, args.model))


if __name__ == "__main__":
    main()
