"""IPC overhead of a worker pool: the same identity runtime in-process and in one worker.

    python benchmarks/workers_ipc.py [--seconds 3]

For 1 row (4 FP32), 1000 rows (4000 FP32) and 1M FP32 it times ``Kernel.infer`` end to end
(no transport) on both models, one request at a time, and prints the median latency of each
and their difference: what the hop to the worker costs per request.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from kernel.lifecycle import Kernel
from kernel.settings import ServerSettings
from protocol.messages import InferenceRequest
from protocol.tensors import input_from_numpy

IDENTITY = """
from kernel import InferenceRequest, InferenceResponse, Runtime, output_from_numpy


class Identity(Runtime):
    async def predict(self, request: InferenceRequest) -> InferenceResponse:
        x = request.inputs[0]
        return InferenceResponse(model_name=self.name, outputs=[output_from_numpy("y", x.data)])
"""

SIZES = {"1 row (4 FP32)": (1, 4), "1000 rows (4000 FP32)": (1000, 4), "1M FP32": (1000, 1000)}


def model(root: Path, name: str, **settings: object) -> None:
    folder = root / name
    folder.mkdir()
    (folder / "identity.py").write_text(IDENTITY)
    body = {"name": name, "implementation": "identity.Identity", **settings}
    (folder / "model-settings.json").write_text(json.dumps(body))


async def median_latency(
    kernel: Kernel, name: str, request: InferenceRequest, secs: float
) -> float:
    for _ in range(20):
        await kernel.infer(name, None, request)
    samples: list[float] = []
    end = time.perf_counter() + secs
    while time.perf_counter() < end:
        started = time.perf_counter()
        await kernel.infer(name, None, request)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


async def main(seconds: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        model(root, "inproc")
        model(root, "pooled", parallel_workers=1)
        async with Kernel(ServerSettings(model_repository_root=str(root))) as kernel:
            print(f"{'payload':24} {'in-process':>12} {'worker':>12} {'overhead':>12}")
            for label, shape in SIZES.items():
                x = np.random.default_rng(0).random(shape, dtype=np.float32)
                request = InferenceRequest(inputs=[input_from_numpy("x", x)])
                local = await median_latency(kernel, "inproc", request, seconds)
                pooled = await median_latency(kernel, "pooled", request, seconds)
                print(
                    f"{label:24} {local * 1e6:10.0f}µs {pooled * 1e6:10.0f}µs"
                    f" {(pooled - local) * 1e6:10.0f}µs"
                )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="per model and payload")
    asyncio.run(main(parser.parse_args().seconds))
