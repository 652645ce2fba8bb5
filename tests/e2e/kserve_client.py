"""Drive ``kernel serve`` with the kserve SDK and print what it got, as JSON.

Run in its own process by ``test_e2e_kserve.py``: kserve and tritonclient both register the
``inference.*`` protobuf messages in protobuf's default descriptor pool, so the two clients
cannot be imported into one interpreter.

    python kserve_client.py HTTP_URL GRPC_ADDRESS ROWS_JSON
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import numpy as np
from kserve import InferenceGRPCClient, InferenceRESTClient, InferInput, InferRequest, RESTConfig
from kserve.protocol.infer_type import RequestedOutput


def request(model: str, rows: np.ndarray[Any, Any], binary: bool, lists: bool = False) -> Any:
    if lists:
        # Python lists travel as typed gRPC contents rather than raw bytes.
        inp = InferInput("input-0", list(rows.shape), "FP64", data=rows.reshape(-1).tolist())
    else:
        inp = InferInput("input-0", list(rows.shape), "FP64")
        inp.set_data_from_numpy(rows, binary_data=binary)
    outputs = [RequestedOutput("predict"), RequestedOutput("predict_proba")]
    return InferRequest(model_name=model, infer_inputs=[inp], request_outputs=outputs)


def outputs(response: Any) -> dict[str, Any]:
    result = {}
    for output in response.outputs:
        array = output.as_numpy()
        values = [v.decode() if isinstance(v, bytes) else v for v in array.reshape(-1).tolist()]
        result[output.name] = {"shape": list(array.shape), "data": values}
    return result


async def main(http_url: str, grpc_address: str, rows: np.ndarray[Any, Any]) -> dict[str, Any]:
    got: dict[str, Any] = {}
    rest = InferenceRESTClient(RESTConfig(protocol="v2", timeout=30))
    try:
        got["rest_live"] = await rest.is_server_live(http_url)
        got["rest_ready"] = await rest.is_server_ready(http_url)
        got["rest_model_ready"] = await rest.is_model_ready(http_url, "iris")
        for binary in (False, True):
            response = await rest.infer(http_url, request("iris", rows, binary), model_name="iris")
            got[f"rest_iris_{'binary' if binary else 'json'}"] = outputs(response)
    finally:
        await rest.close()
    grpc = InferenceGRPCClient(grpc_address, timeout=30)
    try:
        got["grpc_live"] = await grpc.is_server_live()
        got["grpc_ready"] = await grpc.is_server_ready()
        got["grpc_model_ready"] = await grpc.is_model_ready("iris")
        got["grpc_iris"] = outputs(await grpc.infer(request("iris", rows, True)))
        got["grpc_species"] = outputs(await grpc.infer(request("species", rows, True, True)))
    finally:
        await grpc.close()
    return got


if __name__ == "__main__":
    data = np.asarray(json.loads(sys.argv[3]), dtype=np.float64)
    print(json.dumps(asyncio.run(main(sys.argv[1], sys.argv[2], data))))
