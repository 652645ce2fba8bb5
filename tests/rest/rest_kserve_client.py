"""Drive the REST server with the kserve SDK's ``InferenceRESTClient`` and print what it got.

Run in its own process by ``test_clients.py``: kserve and tritonclient's gRPC module both
register the ``inference.*`` protobuf messages in protobuf's default descriptor pool, so they
cannot share an interpreter (the full test run imports tritonclient.grpc).

    python rest_kserve_client.py BASE_URL
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import numpy as np
from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig


async def scenario(base_url: str) -> dict[str, Any]:
    rest = InferenceRESTClient(RESTConfig(protocol="v2", timeout=10))
    try:
        as_list = InferInput("L", [2, 2], "INT32", [[1, 2], [3, 4]])
        as_numpy = InferInput("N", [3], "FP64")
        as_numpy.set_data_from_numpy(np.array([0.5, 1.5, -2.0]), binary_data=True)
        words = InferInput("W", [2], "BYTES")
        words.set_data_from_numpy(np.array([b"a", b"bc"], dtype=np.object_), binary_data=False)
        request = InferRequest(model_name="echo", infer_inputs=[as_list, as_numpy, words])
        response = await rest.infer(base_url, request, model_name="echo")
        outputs = {}
        for output in response.outputs:
            values = output.as_numpy().tolist()
            outputs[output.name] = [v.decode() if isinstance(v, bytes) else v for v in values]
        return {
            "live": await rest.is_server_live(base_url),
            "ready": await rest.is_server_ready(base_url),
            "model_ready": await rest.is_model_ready(base_url, "echo"),
            "model_name": response.model_name,
            "outputs": outputs,
        }
    finally:
        await rest.close()


if __name__ == "__main__":
    print(json.dumps(asyncio.run(scenario(sys.argv[1]))))
