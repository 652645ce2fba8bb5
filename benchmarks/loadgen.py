"""Built-in closed-loop load generator (the fallback when perf_analyzer is not installed).

``python benchmarks/loadgen.py --transport rest|grpc --port P --rows N --server-pid PID ...``
keeps ``--concurrency`` requests in flight, each worker sending its next request as soon as the
previous answer arrives. The request bytes are encoded once up front. After ``--warmup``
seconds it reads the server's CPU time, records every completion for ``--duration`` seconds,
reads the CPU time again, and prints one JSON object on stdout.

REST: raw asyncio protocol on uvloop, one keep-alive connection per worker, whole request in
one write; binary-extension body by default, all-JSON with ``--rest-format json``. gRPC:
grpcio's asyncio client (C core) on one channel, bytes in and out (no protobuf work in the
client).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import time
from collections.abc import Awaitable, Callable
from typing import Any, cast

import numpy as np
import procstat
import wire


class HttpConnection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection that sends a fixed request and reads one response."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[int] | None = None
        self.need = -1  # bytes of the whole response once the header is parsed
        self.status = 0
        self.closed = False  # the server said ``Connection: close`` or hung up

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.need < 0:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buffer[:end]).decode("latin-1")
            lines = head.split("\r\n")
            self.status = int(lines[0].split(" ", 2)[1])
            length = 0
            for line in lines[1:]:
                name, _, value = line.partition(":")
                key = name.strip().lower()
                if key == "content-length":
                    length = int(value)
                elif key == "connection" and value.strip().lower() == "close":
                    # hypercorn closes keep-alive connections after 1000 requests by default.
                    self.closed = True
            self.need = end + 4 + length
        if len(self.buffer) >= self.need and self.waiter is not None:
            del self.buffer[: self.need]
            self.need = -1
            waiter, self.waiter = self.waiter, None
            if not waiter.done():
                waiter.set_result(self.status)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc or ConnectionError("server closed the connection"))

    def request(self, payload: bytes) -> asyncio.Future[int]:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(payload)
        return self.waiter


class Recorder:
    """Collects latencies of requests that complete inside the measurement window."""

    def __init__(self) -> None:
        self.recording = False
        self.stopping = False
        self.latencies: list[int] = []
        self.errors = 0

    async def loop(self, call: Callable[[], Awaitable[bool]]) -> None:
        while not self.stopping:
            start = time.perf_counter_ns()
            try:
                ok = await call()
            except (OSError, ConnectionError):
                # The connection is gone: count it and retire this worker.
                self.errors += 1
                return
            if self.recording:
                if ok:
                    self.latencies.append(time.perf_counter_ns() - start)
                else:
                    self.errors += 1


async def _http_workers(args: argparse.Namespace) -> list[Callable[[], Awaitable[bool]]]:
    x = wire.iris_rows(args.rows)
    head_len: int | None = None
    if args.rest_format == "json":
        body = wire.rest_json_infer_request(x, args.outputs, args.input_name)
    else:
        body, head_len = wire.rest_infer_request(x, args.outputs, args.input_name)
    payload = wire.http_request_bytes(f"/v2/models/{args.model}/infer", body, head_len, args.port)
    loop = asyncio.get_running_loop()

    async def connect() -> HttpConnection:
        _, conn = await loop.create_connection(HttpConnection, "127.0.0.1", args.port)
        return conn

    def worker(conn: HttpConnection) -> Callable[[], Awaitable[bool]]:
        async def call() -> bool:
            nonlocal conn
            if conn.closed:
                # Reconnecting is part of the request's cost, as for any real client.
                conn = await connect()
            try:
                return await conn.request(payload) == 200
            except (OSError, ConnectionError):
                conn.closed = True
                return False

        return call

    return [worker(await connect()) for _ in range(args.concurrency)]


async def _grpc_workers(args: argparse.Namespace) -> list[Callable[[], Awaitable[bool]]]:
    import grpc  # type: ignore[import-untyped]  # no stubs in the venv

    x = wire.iris_rows(args.rows)
    request = wire.grpc_infer_request(x, args.outputs, args.input_name)
    options = [
        ("grpc.max_receive_message_length", -1),
        ("grpc.max_send_message_length", -1),
        # Channels to one target share one connection through gRPC's global subchannel pool;
        # a pool per channel gives each its own connection, as separate clients would have.
        ("grpc.use_local_subchannel_pool", 1),
    ]
    channels = [
        grpc.aio.insecure_channel(f"127.0.0.1:{args.port}", options=options)
        for _ in range(max(1, args.grpc_channels))
    ]

    def worker(infer: Any) -> Callable[[], Awaitable[bool]]:
        async def call() -> bool:
            try:
                await infer(request)
            except grpc.aio.AioRpcError:
                return False
            return True

        return call

    infers = [channel.unary_unary(wire.INFER_PATH) for channel in channels]
    return [worker(infers[i % len(infers)]) for i in range(args.concurrency)]


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Drive the server and return the window's figures."""
    rec = Recorder()
    make = _http_workers if args.transport == "rest" else _grpc_workers
    calls = await make(args)
    tasks = [asyncio.create_task(rec.loop(call)) for call in calls]
    await asyncio.sleep(args.warmup)
    cpu0 = procstat.tree_cpu_seconds(args.server_pid)
    own0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    rec.recording = True
    await asyncio.sleep(args.duration)
    rec.recording = False
    elapsed = time.perf_counter() - t0
    cpu1 = procstat.tree_cpu_seconds(args.server_pid)
    own1 = resource.getrusage(resource.RUSAGE_SELF)
    rec.stopping = True
    await asyncio.wait(tasks, timeout=10)
    lat = np.array(rec.latencies, dtype=np.float64) / 1e6
    count = len(rec.latencies)
    client_cpu = (own1.ru_utime + own1.ru_stime) - (own0.ru_utime + own0.ru_stime)
    return {
        "requests": count,
        "errors": rec.errors,
        "elapsed_s": elapsed,
        "rps": count / elapsed,
        "p50_ms": float(np.percentile(lat, 50)) if count else None,
        "p90_ms": float(np.percentile(lat, 90)) if count else None,
        "p99_ms": float(np.percentile(lat, 99)) if count else None,
        "server_cpu_s": cpu1 - cpu0,
        "server_cpu_per_req_ms": (cpu1 - cpu0) / count * 1e3 if count else None,
        "client_cpu_util": client_cpu / elapsed,
    }


def main() -> None:
    """CLI entry point: prints the result as JSON."""
    parser = argparse.ArgumentParser(description="closed-loop V2 infer load generator")
    parser.add_argument("--transport", choices=["rest", "grpc"], required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--rows", type=int, default=1)
    parser.add_argument("--model", default=wire.MODEL)
    parser.add_argument("--input-name", default=wire.INPUT)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--server-pid", type=int, required=True)
    parser.add_argument(
        "--outputs",
        type=wire.parse_outputs,
        default=wire.IRIS_OUTPUTS,
        help="outputs to request (as perf_analyzer does: all the model lists)",
    )
    parser.add_argument(
        "--rest-format",
        choices=["binary", "json"],
        default="binary",
        help="REST body: binary tensor extension (perf_analyzer's) or all JSON",
    )
    parser.add_argument(
        "--grpc-channels",
        type=int,
        default=1,
        help="gRPC channels, each its own connection, the concurrent calls are spread over "
        "(1: one client's channel, all calls on one HTTP/2 connection)",
    )
    args = parser.parse_args()
    if args.transport == "rest":
        import uvloop

        result = uvloop.run(run(args))
    else:
        # grpc.aio integrates with the stock asyncio loop only.
        result = asyncio.run(run(args))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
