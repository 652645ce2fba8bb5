"""Decode/encode cost of each inference wire form, for three FP32 tensor sizes.

Run: /work/venv/bin/python benchmarks/protocol_codecs.py  (prints a markdown table and writes
benchmarks/results/protocol_codecs.json). gRPC request bytes are built with tritonclient's own
protobuf classes, so the gRPC rows do not depend on kernel's encoder.

``--fallbacks`` times 1000x4 bodies that the all-JSON fast path hands to the general path, or
takes only with its second decoder. ``--callgrind`` counts the instructions of one JSON request
decode (valgrind must be installed): the fast path, the general path alone and
``msgspec.json.decode`` into lists, for each JSON body. Counting is on only inside
``functools.reduce`` (the loop of calls), so start-up is left out and the counts repeat exactly
from run to run, whatever the machine's load. ``--callgrind BODY ...`` counts only the bodies
named (e.g. ``--callgrind "1x4 iris" 1x4 1000x4 1,000,000``); the 1,000,000-value body is
counted only when named (it takes minutes under valgrind). ``PYTHONPATH`` is passed on to the
counted processes, so a copy of ``src`` can be measured against the tree.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import json
import os
import platform
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

from protocol import (
    InferenceRequest,
    InferenceResponse,
    ProtocolError,
    input_from_numpy,
    output_from_numpy,
    rest,
)

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
#: A small request as a client sends it: one 1x4 input, two named outputs (issue 2's example).
IRIS = (
    b'{"id":"","inputs":[{"name":"input-0","shape":[1,4],"datatype":"FP32",'
    b'"data":[5.1,3.5,1.4,0.2]}],"outputs":[{"name":"predict"},{"name":"predict_proba"}]}'
)


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


def best_times(fns: dict[str, Callable[[], Any]], budget: float = 0.4) -> dict[str, float]:
    """``best_time`` of each function, their rounds alternating (A, B, C, A, B, C, ...) so that
    a change in the neighbours' load hits all of them alike: what their ratios need."""
    numbers = {}
    for name, fn in fns.items():
        start = time.perf_counter()
        fn()
        numbers[name] = max(1, int(budget / 10 / max(time.perf_counter() - start, 1e-7)))
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(10):
        for name, fn in fns.items():
            start = time.perf_counter()
            for _ in range(numbers[name]):
                fn()
            best[name] = min(best[name], (time.perf_counter() - start) / numbers[name])
    return {name: value * 1e6 for name, value in best.items()}


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


def json_body(shape: tuple[int, int]) -> tuple[np.ndarray[Any, Any], bytes]:
    array = np.random.default_rng(0).random(shape, dtype=np.float32)
    request = InferenceRequest(inputs=[input_from_numpy("x", array)], id="1")
    return array, rest.encode_infer_request(request, binary=False)[0]


def general_path(body: bytes) -> InferenceRequest:
    """The decoder without its all-JSON fast path: a header length of the whole body means the
    same all-JSON request to the general path."""
    return rest.decode_infer_request(body, len(body))


def json_rows(body: bytes, budget: float) -> list[dict[str, Any]]:
    """Decoding one all-JSON body: the floor, kernel, and kernel's general path alone."""
    times = best_times(
        {
            "msgspec.json.decode into lists (baseline)": lambda: msgspec.json.decode(body),
            "REST JSON": lambda: rest.decode_infer_request(body, None),
            "REST JSON, general path only": lambda: general_path(body),
        },
        budget,
    )
    return [
        {"form": form, "decode_us": us, "encode_us": None, "bytes": len(body)}
        for form, us in times.items()
    ]


def measure(label: str, shape: tuple[int, int]) -> list[dict[str, Any]]:
    array, json_body_ = json_body(shape)
    request = InferenceRequest(inputs=[input_from_numpy("x", array)], id="1")
    response = InferenceResponse(model_name="m", outputs=[output_from_numpy("y", array)])
    bin_body, bin_len = rest.encode_infer_request(request, binary=True)
    as_json = InferenceRequest(inputs=[])
    as_binary = InferenceRequest(inputs=[], parameters={"binary_data_output": True})
    budget = 2.0 if array.size >= 1_000_000 else 0.4

    rows = json_rows(json_body_, budget)
    rows[1]["encode_us"] = best_time(lambda: rest.encode_infer_response(response, as_json), budget)
    rows += [
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
    return labelled(rows, label)


def labelled(rows: list[dict[str, Any]], label: str) -> list[dict[str, Any]]:
    baseline = rows[0]["decode_us"]
    for row in rows:
        row["size"] = label
        row["decode_vs_baseline"] = row["decode_us"] / baseline
    return rows


def fmt(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:,.1f}" if value < 100 else f"{value:,.0f}"


# --- requests the fast path does not take at once ------------------------------------------------


def refused(decode: Callable[[bytes], Any], body: bytes) -> None:
    """Decode ``body``, ignoring the error of a body that is refused."""
    with contextlib.suppress(ProtocolError, msgspec.DecodeError):
        decode(body)


def fallback_row(name: str, body: bytes, after_fp32: bool, small: bytes) -> str:
    refused(rest.decode_infer_request, body)  # the decoder tried first is now this body's

    def fast() -> None:
        if after_fp32:  # a 1x4 FP32 request first: its decoder is the one tried first
            rest.decode_infer_request(small)
        refused(rest.decode_infer_request, body)

    times = best_times(
        {
            "base": lambda: refused(msgspec.json.decode, body),
            "fast": fast,
            "general": lambda: refused(general_path, body),
            "small": lambda: rest.decode_infer_request(small),
        }
    )
    base, general = times["base"], times["general"]
    ours = times["fast"] - (times["small"] if after_fp32 else 0.0)
    return (
        f"| {name} | {fmt(base)} | {fmt(ours)} ({ours / base:.2f}x) | "
        f"{fmt(general)} ({general / base:.2f}x) |"
    )


def fallbacks() -> None:
    small = json_body((1, 4))[1]
    print("| 1000x4 body | baseline µs | REST JSON µs | general path only µs |")
    print("|---|---:|---:|---:|")
    for name, (body, after_fp32) in fallback_bodies().items():
        print(fallback_row(name, body, after_fp32, small))


def fallback_bodies() -> dict[str, tuple[bytes, bool]]:
    """1000x4 bodies, each with whether an FP32 1x4 request goes just before it."""
    rng = np.random.default_rng(0)
    floats = rng.random((1000, 4), dtype=np.float32)
    ints = rng.integers(-1000, 1000, (1000, 4))
    order = ("name", "shape", "datatype", "data")  # as tritonclient writes them

    def body(datatype: str, data: Any, keys: tuple[str, ...] = order) -> bytes:
        tensor = {"name": "x", "shape": [1000, 4], "datatype": datatype, "data": data}
        return json.dumps({"inputs": [{key: tensor[key] for key in keys}]}).encode()

    flat = floats.reshape(-1).tolist()
    return {
        "FP32, flat (taken)": (body("FP32", flat), False),
        "FP32, nested rows": (body("FP32", floats.tolist()), False),
        "INT64, as the request before": (body("INT64", ints.reshape(-1).tolist()), False),
        "INT64 after an FP32 request": (body("INT64", ints.reshape(-1).tolist()), True),
        "INT64 after FP32, data key first": (
            body("INT64", ints.reshape(-1).tolist(), ("data", "name", "shape", "datatype")),
            True,
        ),
        "FP32, last value out of range (refused)": (body("FP32", [*flat[:-1], 1e39]), False),
        "FP32, JSON cut short (refused)": (body("FP32", flat)[:-3], False),
    }


# --- instruction counts ------------------------------------------------------------------------


def after_fp32(body: bytes) -> None:
    """A 1x4 FP32 request, then ``body``: its decoder is then the one the fast path tries first."""
    rest.decode_infer_request(SMALL)
    rest.decode_infer_request(body)


SMALL: bytes = json_body((1, 4))[1]
DECODERS: dict[str, Callable[[bytes], Any]] = {
    "empty loop": len,  # the loop's own cost, taken off the others
    "msgspec.json.decode into lists (baseline)": msgspec.json.decode,
    "REST JSON": rest.decode_infer_request,
    "REST JSON, general path only": general_path,
    "FP32 1x4 then REST JSON": after_fp32,
    "FP32 1x4 alone": lambda _: rest.decode_infer_request(SMALL),
}


#: Bodies counted only when named on the command line.
NAMED_ONLY: dict[str, tuple[int, int]] = {"1,000,000": SIZES["1,000,000"]}


def counted_bodies(names: list[str] | None = None) -> dict[str, bytes]:
    taken = {"1x4 iris": IRIS, "1x4": SMALL, "1000x4": json_body((1000, 4))[1]}
    bodies = taken | {name: body for name, (body, _) in fallback_bodies().items()}
    if not names:
        return bodies
    return {
        name: bodies[name] if name in bodies else json_body(NAMED_ONLY[name])[1] for name in names
    }


def calls_for(body: str) -> int:
    """Calls per count: enough that the loop's start is noise, few for the big bodies."""
    return 2000 if body.startswith("1x4") else 2 if body in NAMED_ONLY else 20


def loop(decoder: str, body: str, calls: int) -> None:
    """What valgrind runs: warm-up calls, then ``calls`` calls inside ``functools.reduce``."""
    decode, data = DECODERS[decoder], counted_bodies([body])[body]

    def call(_: Any, __: Any) -> None:
        refused(decode, data)

    gc.disable()  # a collection would land in some runs' counts and not others'
    for _ in range(min(50, calls)):
        call(None, None)
    functools.reduce(call, range(calls), None)


@functools.cache
def collected(decoder: str, body: str) -> float:
    """Instructions per call of ``decoder`` on ``body``, counted inside ``functools.reduce``."""
    calls = calls_for(body)
    run = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            "--callgrind-out-file=/dev/null",
            "--collect-atstart=no",
            "--toggle-collect=functools_reduce",
            *(sys.executable, __file__, "--loop", decoder, body, str(calls)),
        ],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "0", "PATH": "/usr/bin:/bin"}
        | ({"PYTHONPATH": os.environ["PYTHONPATH"]} if "PYTHONPATH" in os.environ else {}),
    )
    match = re.search(r"Collected : (\d+)", run.stderr)
    if match is None:
        raise RuntimeError(f"no instruction count from valgrind:\n{run.stderr[-2000:]}")
    return int(match.group(1)) / calls


def instructions(decoder: str, body: str) -> float:
    """What one call costs, the loop's own instructions taken off."""
    return collected(decoder, body) - collected("empty loop", body)


def callgrind(names: list[str]) -> None:
    print("| body | msgspec.json.decode (baseline) | REST JSON | general path only |")
    print("|---|---:|---:|---:|")
    switches = {name for name, (_, after) in fallback_bodies().items() if after}
    for body in counted_bodies(names):
        base = instructions("msgspec.json.decode into lists (baseline)", body)
        if body in switches:
            ours = instructions("FP32 1x4 then REST JSON", body)
            ours -= instructions("FP32 1x4 alone", body)
        else:
            ours = instructions("REST JSON", body)
        general = instructions("REST JSON, general path only", body)
        print(
            f"| {body} | {base:,.0f} | {ours:,.0f} ({ours / base:.2f}x) | "
            f"{general:,.0f} ({general / base:.2f}x) |"
        )


# --- main --------------------------------------------------------------------------------------


def main() -> None:
    if sys.argv[1:2] == ["--loop"]:
        loop(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        return
    if sys.argv[1:2] == ["--callgrind"]:
        callgrind(sys.argv[2:])
        return
    if sys.argv[1:2] == ["--fallbacks"]:
        fallbacks()
        return
    if GRPC_MISSING:
        print(f"note: protocol.grpc is not importable ({GRPC_MISSING}); gRPC rows skipped")
    rows = labelled(json_rows(IRIS, 0.4), "1x4 iris")
    rows += [row for label, shape in SIZES.items() for row in measure(label, shape)]
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
