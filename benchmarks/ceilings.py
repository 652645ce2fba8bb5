"""The ceilings: trivial V2 servers that answer every infer with a fixed, pre-built response.

``python benchmarks/ceilings.py rest --port P --rows N`` serves a bare ASGI app on hypercorn;
``python benchmarks/ceilings.py grpc --port P --rows N`` a grpclib service. Each reads the whole
request (the gRPC one decodes it into a betterproto ModelInferRequest, as any grpclib service
does) and answers with every output the model lists (``--outputs``; by default the iris classifier's
``predict`` INT64[N] and three FP64[N,3]), since perf_analyzer requests them all, so the bytes
on the wire match kernel's. They also answer the metadata, config and server-metadata calls
perf_analyzer makes before it sends load. No model, no validation: whatever kernel spends above
these is the cost of kernel itself.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import wire

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

# Triton model-config DataType enum values (PROTOCOL.md §2.7).
CONFIG_TYPES = {"BOOL": 1, "INT32": 8, "INT64": 9, "FP32": 11, "FP64": 12}
Outputs = tuple[wire.OutputSpec, ...]


def _dims(o: wire.OutputSpec) -> list[int]:
    return [-1] if o.width == 1 else [-1, o.width]


def _metadata_json(outputs: Outputs) -> bytes:
    return json.dumps(
        {
            "name": wire.MODEL,
            "versions": ["1"],
            "platform": "ceiling",
            "inputs": [{"name": wire.INPUT, "datatype": wire.INPUT_DATATYPE, "shape": [-1, 4]}],
            "outputs": [
                {"name": o.name, "datatype": o.datatype, "shape": _dims(o)} for o in outputs
            ],
        }
    ).encode()


def _config_json(outputs: Outputs) -> bytes:
    return json.dumps(
        {
            "name": wire.MODEL,
            "platform": "",
            "backend": "ceiling",
            "max_batch_size": 0,
            "input": [
                {"name": wire.INPUT, "data_type": f"TYPE_{wire.INPUT_DATATYPE}", "dims": [-1, 4]}
            ],
            "output": [
                {"name": o.name, "data_type": f"TYPE_{o.datatype}", "dims": _dims(o)}
                for o in outputs
            ],
        }
    ).encode()


def rest_infer_response(rows: int, outputs: Outputs) -> tuple[bytes, int]:
    """Binary-extension infer response body carrying every output, and its JSON length."""
    data = b"".join(bytes(o.nbytes(rows)) for o in outputs)
    head = json.dumps(
        {
            "model_name": wire.MODEL,
            "model_version": "1",
            "outputs": [
                {
                    "name": o.name,
                    "datatype": o.datatype,
                    "shape": o.shape(rows),
                    "parameters": {"binary_data_size": o.nbytes(rows)},
                }
                for o in outputs
            ],
        },
        separators=(",", ":"),
    ).encode()
    return head + data, len(head)


def build_asgi_app(
    rows: int, outputs: Outputs
) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """A bare ASGI app: fixed answers, body read to the end, no framework."""
    body, head_len = rest_infer_response(rows, outputs)
    infer_headers = [
        (b"content-type", b"application/octet-stream"),
        (b"inference-header-content-length", str(head_len).encode()),
        (b"content-length", str(len(body)).encode()),
    ]
    infer_path = f"/v2/models/{wire.MODEL}/infer"
    gets = {
        "/v2": json.dumps(
            {"name": "ceiling", "version": "0", "extensions": ["binary_tensor_data"]}
        ).encode(),
        "/v2/health/live": b'{"live":true}',
        "/v2/health/ready": b'{"ready":true}',
        f"/v2/models/{wire.MODEL}": _metadata_json(outputs),
        f"/v2/models/{wire.MODEL}/config": _config_json(outputs),
        f"/v2/models/{wire.MODEL}/ready": b'{"name":"iris","ready":true}',
    }

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        # Drain the request body, as any real handler must.
        more = True
        while more:
            message = await receive()
            more = bool(message.get("more_body", False))
        path = scope["path"]
        if scope["method"] == "POST" and path == infer_path:
            status, headers, payload = 200, infer_headers, body
        elif path in gets:
            payload = gets[path]
            status = 200
            headers = [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ]
        else:
            status, payload = 404, b'{"error":"not found"}'
            headers = [(b"content-type", b"application/json"), (b"content-length", b"21")]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})

    return app


async def serve_rest(port: int, rows: int, outputs: Outputs, worker_class: str) -> None:
    """Serve the ASGI ceiling on 127.0.0.1:port until SIGTERM/SIGINT."""
    await serve_asgi(build_asgi_app(rows, outputs), port, worker_class)


async def serve_asgi(app: Any, port: int, worker_class: str = "asyncio") -> None:
    """Serve ``app`` with hypercorn on 127.0.0.1:port, no access log, until SIGTERM/SIGINT."""
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.accesslog = None
    config.worker_class = worker_class
    stop = _stop_event()
    await serve(app, config, shutdown_trigger=stop.wait)


class GrpcCeiling:
    """grpclib service: fixed ModelInferResponse plus the calls perf_analyzer needs first."""

    def __init__(self, rows: int, outputs: Outputs, raw: bool = False) -> None:
        response = wire.ModelInferResponse(
            model_name=wire.MODEL,
            model_version="1",
            outputs=[
                wire.InferOutputTensor(name=o.name, datatype=o.datatype, shape=o.shape(rows))
                for o in outputs
            ],
            raw_output_contents=[bytes(o.nbytes(rows)) for o in outputs],
        )
        # With the raw codec the reply goes out as these bytes; otherwise betterproto
        # serialises the message on every call, as a generated service would.
        self.response: wire.ModelInferResponse | bytes = bytes(response) if raw else response
        self.metadata = wire.ModelMetadataResponse(
            name=wire.MODEL,
            versions=["1"],
            platform="ceiling",
            inputs=[
                wire.TensorMetadata(name=wire.INPUT, datatype=wire.INPUT_DATATYPE, shape=[-1, 4])
            ],
            outputs=[
                wire.TensorMetadata(name=o.name, datatype=o.datatype, shape=_dims(o))
                for o in outputs
            ],
        )
        self.config = wire.ModelConfigResponse(
            config=wire.ModelConfig(
                name=wire.MODEL,
                backend="ceiling",
                input=[
                    wire.ConfigTensor(name=wire.INPUT, data_type=CONFIG_TYPES[wire.INPUT_DATATYPE])
                ],
                output=[
                    wire.ConfigTensor(name=o.name, data_type=CONFIG_TYPES[o.datatype])
                    for o in outputs
                ],
            )
        )
        self.server = wire.ServerMetadataResponse(name="ceiling", version="0")

    async def model_infer(self, stream: Any) -> None:
        await stream.recv_message()
        await stream.send_message(self.response)

    def _fixed(self, reply: Any) -> Callable[[Any], Awaitable[None]]:
        async def handler(stream: Any) -> None:
            await stream.recv_message()
            await stream.send_message(reply)

        return handler

    def __mapping__(self) -> dict[str, Any]:
        from grpclib.const import Cardinality, Handler

        unary = Cardinality.UNARY_UNARY
        prefix = "/inference.GRPCInferenceService/"
        ready = wire.ReadyResponse(ready=True)
        table: list[tuple[str, Callable[[Any], Awaitable[None]], type, type]] = [
            ("ModelInfer", self.model_infer, wire.ModelInferRequest, wire.ModelInferResponse),
            (
                "ModelMetadata",
                self._fixed(self.metadata),
                wire.NameVersionRequest,
                wire.ModelMetadataResponse,
            ),
            (
                "ModelConfig",
                self._fixed(self.config),
                wire.NameVersionRequest,
                wire.ModelConfigResponse,
            ),
            (
                "ServerMetadata",
                self._fixed(self.server),
                wire.Empty,
                wire.ServerMetadataResponse,
            ),
            ("ServerLive", self._fixed(ready), wire.Empty, wire.ReadyResponse),
            ("ServerReady", self._fixed(ready), wire.Empty, wire.ReadyResponse),
            ("ModelReady", self._fixed(ready), wire.NameVersionRequest, wire.ReadyResponse),
        ]
        return {
            prefix + name: Handler(func, unary, request, reply)
            for name, func, request, reply in table
        }


class RawCodec:
    """grpclib codec that passes message bytes through untouched (no protobuf work at all)."""

    __content_subtype__ = "proto"

    def encode(self, message: Any, message_type: Any) -> bytes:
        return bytes(message)

    def decode(self, data: bytes, message_type: Any) -> bytes:
        return data


async def serve_grpc(port: int, rows: int, outputs: Outputs, raw: bool) -> None:
    """Serve the grpclib ceiling on 127.0.0.1:port until SIGTERM/SIGINT.

    ``raw``: skip protobuf entirely (requests stay bytes, replies are pre-encoded), which
    isolates grpclib's HTTP/2 cost from betterproto's (de)serialisation.
    """
    await serve_grpclib(GrpcCeiling(rows, outputs, raw), port, RawCodec() if raw else None)


async def serve_grpclib(service: Any, port: int, codec: Any = None) -> None:
    """Serve one grpclib ``service`` on 127.0.0.1:port until SIGTERM/SIGINT."""
    from grpclib.server import Server

    server = Server([service], codec=codec)
    await server.start("127.0.0.1", port)
    await _stop_event().wait()
    server.close()
    await server.wait_closed()


def _stop_event() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


def main() -> None:
    """CLI entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("transport", choices=["rest", "grpc"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--rows", type=int, default=1, help="rows in the fixed response")
    parser.add_argument(
        "--outputs",
        default=wire.format_outputs(wire.IRIS_OUTPUTS),
        help="outputs to list and answer, name:DATATYPE:width,...",
    )
    parser.add_argument("--raw", action="store_true", help="gRPC: no protobuf (bytes codec)")
    parser.add_argument("--worker-class", default="asyncio", help="hypercorn worker class")
    args = parser.parse_args()
    outputs = wire.parse_outputs(args.outputs)
    if args.transport == "rest":
        asyncio.run(serve_rest(args.port, args.rows, outputs, args.worker_class))
    else:
        asyncio.run(serve_grpc(args.port, args.rows, outputs, args.raw))


if __name__ == "__main__":
    main()
