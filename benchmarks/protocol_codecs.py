"""Decode/encode cost of each inference wire form, for three FP32 tensor sizes.

Run: /work/venv/bin/python benchmarks/protocol_codecs.py  (prints a markdown table and writes
benchmarks/results/protocol_codecs.json). gRPC request bytes are built with tritonclient's own
protobuf classes, so the gRPC rows do not depend on kernel's encoder.
"""

from __future__ import annotations

import json
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

from protocol import InferenceRequest, InferenceResponse, input_from_numpy, output_from_numpy, rest

kernel_grpc: Any
try:
    from protocol import grpc as kernel_grpc
except ImportError as exc:  # the gRPC codec is optional here: skip its rows without it
    kernel_grpc = None
    GRPC_MISSING = str(exc)
else:
    GRPC_MISSING = ""

SIZES = {"1x4": (1, 4), "1000x4": (1000, 4), "1,000,000": (1000, 1000)}
RESULTS = Path(__file__).parent / "results" / "protocol_codecs.json"


def best_time(fn: Callable[[], Any], budget: float = 0.4) -> float:
    """Best per-call time in µs over several rounds, each sized to take ~budget/5 seconds."""
    start = time.perf_counter()
    fn()
    once = max(time.perf_counter() - start, 1e-7)
    number = max(1, int(budget / 5 / once))
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - start) / number)
    return best * 1e6


def grpc_request_bytes(array: np.ndarray[Any, Any], typed: bool) -> bytes:
    from tritonclient.grpc import service_pb2

    msg = service_pb2.ModelInferRequest(model_name="m")
    tensor = msg.inputs.add(name="x", datatype="FP32", shape=list(array.shape))
    if typed:
        tensor.contents.fp32_contents.extend(array.reshape(-1).tolist())
    else:
        msg.raw_input_contents.append(array.astype("<f4").tobytes())
    data: bytes = msg.SerializeToString()
    return data


def measure(label: str, shape: tuple[int, int]) -> list[dict[str, Any]]:
    rng = np.random.default_rng(0)
    array = rng.random(shape, dtype=np.float32)
    request = InferenceRequest(inputs=[input_from_numpy("x", array)], id="1")
    response = InferenceResponse(model_name="m", outputs=[output_from_numpy("y", array)])
    json_body, _ = rest.encode_infer_request(request, binary=False)
    bin_body, bin_len = rest.encode_infer_request(request, binary=True)
    as_json = InferenceRequest(inputs=[])
    as_binary = InferenceRequest(inputs=[], parameters={"binary_data_output": True})
    budget = 2.0 if array.size >= 1_000_000 else 0.4

    rows: list[dict[str, Any]] = [
        {
            "form": "msgspec.json.decode into lists (baseline)",
            "decode_us": best_time(lambda: msgspec.json.decode(json_body), budget),
            "encode_us": None,
            "bytes": len(json_body),
        },
        {
            "form": "REST JSON",
            "decode_us": best_time(lambda: rest.decode_infer_request(json_body, None), budget),
            "encode_us": best_time(lambda: rest.encode_infer_response(response, as_json), budget),
            "bytes": len(json_body),
        },
        {
            "form": "REST binary extension",
            "decode_us": best_time(lambda: rest.decode_infer_request(bin_body, bin_len), budget),
            "encode_us": best_time(lambda: rest.encode_infer_response(response, as_binary), budget),
            "bytes": len(bin_body),
        },
    ]
    if kernel_grpc is not None:
        grpc = kernel_grpc
        raw, typed = grpc_request_bytes(array, typed=False), grpc_request_bytes(array, typed=True)
        np.testing.assert_array_equal(grpc.decode_infer_request(typed).inputs[0].data, array)
        rows.append(
            {
                "form": "gRPC raw contents",
                "decode_us": best_time(lambda: grpc.decode_infer_request(raw), budget),
                "encode_us": best_time(lambda: grpc.encode_infer_response(response), budget),
                "bytes": len(raw),
            }
        )
        rows.append(
            {
                "form": "gRPC typed contents",
                "decode_us": best_time(lambda: grpc.decode_infer_request(typed), budget),
                "encode_us": None,  # kernel always answers with raw_output_contents
                "bytes": len(typed),
            }
        )
    baseline = rows[0]["decode_us"]
    for row in rows:
        row["size"] = label
        row["decode_vs_baseline"] = row["decode_us"] / baseline
    return rows


def fmt(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:,.1f}" if value < 100 else f"{value:,.0f}"


def main() -> None:
    if GRPC_MISSING:
        print(f"note: protocol.grpc is not importable ({GRPC_MISSING}); gRPC rows skipped")
    rows = [row for label, shape in SIZES.items() for row in measure(label, shape)]
    print("| tensor | form | body bytes | decode µs | encode µs | decode / baseline |")
    print("|---|---|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['size']} | {r['form']} | {r['bytes']:,} | {fmt(r['decode_us'])} | "
            f"{fmt(r['encode_us'])} | {r['decode_vs_baseline']:.2f}x |"
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "msgspec": msgspec.__version__,
        "machine": platform.machine(),
        "note": "best of 5 rounds; encode is the response carrying the same tensor",
    }
    RESULTS.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    print(f"\nwrote {RESULTS}")


if __name__ == "__main__":
    main()
