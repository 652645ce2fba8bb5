"""An oversized gRPC request is refused from its length prefix, before its body arrives.

A raw HTTP/2 client (h2 over a socket) announces a message one byte over the server's
``max_request_size`` but sends only the first kilobyte of it and keeps the stream open. The
server must answer RESOURCE_EXHAUSTED at once: a server that waits for the announced body before
checking its size never answers here (and would hold the whole body in memory if it came).
Then the same connection must still serve a call.
"""

from __future__ import annotations

import socket
import time

import h2.config
import h2.connection
import h2.events
from echo_runtimes import GRPC_LIMIT

SERVICE = "/inference.GRPCInferenceService"


class RawClient:
    """Just enough HTTP/2 to send gRPC frames by hand and read the trailers back."""

    def __init__(self, address: str) -> None:
        host, port = address.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=10)
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        self.conn.initiate_connection()
        self.flush()
        self.authority = address

    def flush(self) -> None:
        self.sock.sendall(self.conn.data_to_send())

    def open(self, method: str) -> int:
        stream_id: int = self.conn.get_next_available_stream_id()
        headers = [
            (":method", "POST"),
            (":scheme", "http"),
            (":path", f"{SERVICE}/{method}"),
            (":authority", self.authority),
            ("content-type", "application/grpc"),
            ("te", "trailers"),
        ]
        self.conn.send_headers(stream_id, headers)
        return stream_id

    def send(self, stream_id: int, data: bytes, end: bool) -> None:
        self.conn.send_data(stream_id, data, end_stream=end)
        self.flush()

    def status(self, stream_id: int, within: float) -> dict[str, str]:
        """The trailers (or trailers-only headers) carrying ``grpc-status`` for ``stream_id``."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                break
            if not data:
                break
            for event in self.conn.receive_data(data):
                if isinstance(event, h2.events.DataReceived):
                    self.conn.acknowledge_received_data(
                        event.flow_controlled_length, event.stream_id
                    )
                if (
                    isinstance(event, h2.events.ResponseReceived | h2.events.TrailersReceived)
                    and event.stream_id == stream_id
                ):
                    fields = {_text(k): _text(v) for k, v in event.headers}
                    if "grpc-status" in fields:
                        return fields
            self.flush()
        raise AssertionError(f"no grpc-status for stream {stream_id} within {within} s")

    def close(self) -> None:
        self.sock.close()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _prefix(size: int) -> bytes:
    return b"\0" + size.to_bytes(4, "big")


def test_oversized_request_is_refused_before_its_body(address: str) -> None:
    client = RawClient(address)
    try:
        big = client.open("ModelInfer")
        client.send(big, _prefix(GRPC_LIMIT + 1) + bytes(1024), end=False)
        # More of the body the server will not read: 48 KB in h2's default largest frames (the
        # client has not read the server's settings, so it stays within the default 64 KB window).
        for _ in range(3):
            client.send(big, bytes(16 * 1024), end=False)
        trailers = client.status(big, within=5.0)
        assert trailers["grpc-status"] == "8", trailers  # RESOURCE_EXHAUSTED
        assert f"{GRPC_LIMIT + 1} bytes" in trailers.get("grpc-message", "")
        assert str(GRPC_LIMIT) in trailers.get("grpc-message", "")

        # A normal call on the same connection: the refused stream did not break it.
        live = client.open("ServerLive")
        client.send(live, _prefix(0), end=True)
        assert client.status(live, within=5.0)["grpc-status"] == "0"
    finally:
        client.close()


def test_request_cut_short_is_invalid_argument(address: str) -> None:
    client = RawClient(address)
    try:
        short = client.open("ModelInfer")
        client.send(short, _prefix(100) + bytes(10), end=True)
        trailers = client.status(short, within=5.0)
        assert trailers["grpc-status"] == "3", trailers  # INVALID_ARGUMENT
        assert "ended before the 100 bytes" in trailers.get("grpc-message", "")
    finally:
        client.close()
