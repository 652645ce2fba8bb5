"""Wire payloads for the benchmark: minimal V2 gRPC messages and pre-encoded request bodies.

The gRPC messages are a hand-written betterproto subset of the inference protocol (field numbers
from shared PROTOCOL.md §6.2), so the grpclib ceiling pays the same pure-Python (de)serialisation
cost a generated betterproto service pays, without depending on the project's generated code.
Only the messages the ceiling and the load generator touch are here.
"""

# betterproto declares fields as dataclass defaults built by calls; that is its API.
# ruff: noqa: RUF009

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import betterproto
import numpy as np
import numpy.typing as npt

MODEL = "iris"
INPUT = "input-0"
INPUT_DATATYPE = "FP64"  # what the iris model's metadata declares, so what perf_analyzer sends
INFER_PATH = "/inference.GRPCInferenceService/ModelInfer"
ITEMSIZE = {"INT64": 8, "FP64": 8, "INT32": 4, "FP32": 4, "BOOL": 1}


@dataclass(frozen=True)
class OutputSpec:
    """One output the model lists: name, datatype and elements per row."""

    name: str
    datatype: str
    width: int  # 1 for a [-1] output, k for [-1, k]

    def shape(self, rows: int) -> list[int]:
        return [rows] if self.width == 1 else [rows, self.width]

    def nbytes(self, rows: int) -> int:
        return rows * self.width * ITEMSIZE[self.datatype]


# The scikit-learn iris classifier's outputs as kernel lists them. perf_analyzer asks for
# every output the metadata lists, so the ceilings answer with all of them too.
IRIS_OUTPUTS = (
    OutputSpec("predict", "INT64", 1),
    OutputSpec("predict_proba", "FP64", 3),
    OutputSpec("predict_log_proba", "FP64", 3),
    OutputSpec("decision_function", "FP64", 3),
)


def format_outputs(outputs: tuple[OutputSpec, ...]) -> str:
    """``name:DATATYPE:width,...`` (the ``--outputs`` option of ceilings.py and loadgen.py)."""
    return ",".join(f"{o.name}:{o.datatype}:{o.width}" for o in outputs)


def parse_outputs(text: str) -> tuple[OutputSpec, ...]:
    """Inverse of :func:`format_outputs`."""
    specs = []
    for item in text.split(","):
        name, datatype, width = item.split(":")
        if datatype not in ITEMSIZE:
            raise ValueError(f"output {name}: datatype {datatype} not supported by the benchmark")
        specs.append(OutputSpec(name, datatype, int(width)))
    return tuple(specs)


def outputs_from_metadata(meta: dict[str, Any]) -> tuple[OutputSpec, ...]:
    """Output specs from a V2 model-metadata JSON document."""
    specs = []
    for out in meta.get("outputs", []):
        width = 1
        for dim in out["shape"][1:]:
            width *= int(dim)
        specs.append(OutputSpec(out["name"], out["datatype"], width))
    return tuple(specs)


@dataclass(eq=False, repr=False)
class InferParameter(betterproto.Message):
    """A request/response parameter (oneof of scalar kinds)."""

    bool_param: bool = betterproto.bool_field(1, group="parameter_choice")
    int64_param: int = betterproto.int64_field(2, group="parameter_choice")
    string_param: str = betterproto.string_field(3, group="parameter_choice")
    double_param: float = betterproto.double_field(4, group="parameter_choice")
    uint64_param: int = betterproto.uint64_field(5, group="parameter_choice")


@dataclass(eq=False, repr=False)
class InferTensorContents(betterproto.Message):
    """Typed tensor contents (unused by the benchmark payloads, kept for wire fidelity)."""

    bool_contents: list[bool] = betterproto.bool_field(1)
    int_contents: list[int] = betterproto.int32_field(2)
    int64_contents: list[int] = betterproto.int64_field(3)
    uint_contents: list[int] = betterproto.uint32_field(4)
    uint64_contents: list[int] = betterproto.uint64_field(5)
    fp32_contents: list[float] = betterproto.float_field(6)
    fp64_contents: list[float] = betterproto.double_field(7)
    bytes_contents: list[bytes] = betterproto.bytes_field(8)


@dataclass(eq=False, repr=False)
class InferInputTensor(betterproto.Message):
    """ModelInferRequest.InferInputTensor."""

    name: str = betterproto.string_field(1)
    datatype: str = betterproto.string_field(2)
    shape: list[int] = betterproto.int64_field(3)
    parameters: dict[str, InferParameter] = betterproto.map_field(
        4, betterproto.TYPE_STRING, betterproto.TYPE_MESSAGE
    )
    contents: InferTensorContents = betterproto.message_field(5)


@dataclass(eq=False, repr=False)
class InferRequestedOutputTensor(betterproto.Message):
    """ModelInferRequest.InferRequestedOutputTensor."""

    name: str = betterproto.string_field(1)
    parameters: dict[str, InferParameter] = betterproto.map_field(
        2, betterproto.TYPE_STRING, betterproto.TYPE_MESSAGE
    )


@dataclass(eq=False, repr=False)
class ModelInferRequest(betterproto.Message):
    """ModelInferRequest (Triton / OIP field numbers)."""

    model_name: str = betterproto.string_field(1)
    model_version: str = betterproto.string_field(2)
    id: str = betterproto.string_field(3)
    parameters: dict[str, InferParameter] = betterproto.map_field(
        4, betterproto.TYPE_STRING, betterproto.TYPE_MESSAGE
    )
    inputs: list[InferInputTensor] = betterproto.message_field(5)
    outputs: list[InferRequestedOutputTensor] = betterproto.message_field(6)
    raw_input_contents: list[bytes] = betterproto.bytes_field(7)


@dataclass(eq=False, repr=False)
class InferOutputTensor(betterproto.Message):
    """ModelInferResponse.InferOutputTensor."""

    name: str = betterproto.string_field(1)
    datatype: str = betterproto.string_field(2)
    shape: list[int] = betterproto.int64_field(3)
    parameters: dict[str, InferParameter] = betterproto.map_field(
        4, betterproto.TYPE_STRING, betterproto.TYPE_MESSAGE
    )
    contents: InferTensorContents = betterproto.message_field(5)


@dataclass(eq=False, repr=False)
class ModelInferResponse(betterproto.Message):
    """ModelInferResponse (Triton / OIP field numbers)."""

    model_name: str = betterproto.string_field(1)
    model_version: str = betterproto.string_field(2)
    id: str = betterproto.string_field(3)
    parameters: dict[str, InferParameter] = betterproto.map_field(
        4, betterproto.TYPE_STRING, betterproto.TYPE_MESSAGE
    )
    outputs: list[InferOutputTensor] = betterproto.message_field(5)
    raw_output_contents: list[bytes] = betterproto.bytes_field(6)


@dataclass(eq=False, repr=False)
class NameVersionRequest(betterproto.Message):
    """ModelMetadataRequest / ModelConfigRequest / ModelReadyRequest: name=1, version=2."""

    name: str = betterproto.string_field(1)
    version: str = betterproto.string_field(2)


@dataclass(eq=False, repr=False)
class Empty(betterproto.Message):
    """ServerMetadataRequest / ServerLiveRequest / ServerReadyRequest (no fields)."""


@dataclass(eq=False, repr=False)
class ServerMetadataResponse(betterproto.Message):
    """ServerMetadataResponse."""

    name: str = betterproto.string_field(1)
    version: str = betterproto.string_field(2)
    extensions: list[str] = betterproto.string_field(3)


@dataclass(eq=False, repr=False)
class TensorMetadata(betterproto.Message):
    """ModelMetadataResponse.TensorMetadata."""

    name: str = betterproto.string_field(1)
    datatype: str = betterproto.string_field(2)
    shape: list[int] = betterproto.int64_field(3)


@dataclass(eq=False, repr=False)
class ModelMetadataResponse(betterproto.Message):
    """ModelMetadataResponse."""

    name: str = betterproto.string_field(1)
    versions: list[str] = betterproto.string_field(2)
    platform: str = betterproto.string_field(3)
    inputs: list[TensorMetadata] = betterproto.message_field(4)
    outputs: list[TensorMetadata] = betterproto.message_field(5)


@dataclass(eq=False, repr=False)
class ConfigTensor(betterproto.Message):
    """ModelInput / ModelOutput subset: name=1, data_type=2 (enum as int), dims (4 in, 3 out)."""

    name: str = betterproto.string_field(1)
    data_type: int = betterproto.int32_field(2)


@dataclass(eq=False, repr=False)
class ModelConfig(betterproto.Message):
    """Triton ModelConfig subset perf_analyzer reads."""

    name: str = betterproto.string_field(1)
    platform: str = betterproto.string_field(2)
    max_batch_size: int = betterproto.int32_field(4)
    input: list[ConfigTensor] = betterproto.message_field(5)
    output: list[ConfigTensor] = betterproto.message_field(6)
    backend: str = betterproto.string_field(17)


@dataclass(eq=False, repr=False)
class ModelConfigResponse(betterproto.Message):
    """ModelConfigResponse."""

    config: ModelConfig = betterproto.message_field(1)


@dataclass(eq=False, repr=False)
class ReadyResponse(betterproto.Message):
    """ServerLiveResponse / ServerReadyResponse / ModelReadyResponse: one bool at field 1."""

    ready: bool = betterproto.bool_field(1)


def iris_rows(rows: int) -> npt.NDArray[np.float64]:
    """``rows`` iris feature rows (cycling through the data set) as a C-contiguous FP64 array."""
    from sklearn.datasets import load_iris

    data = np.asarray(load_iris().data, dtype=np.float64)
    index = np.arange(rows) % data.shape[0]
    return np.ascontiguousarray(data[index])


def rest_infer_request(
    x: npt.NDArray[np.float64], outputs: tuple[OutputSpec, ...], input_name: str = INPUT
) -> tuple[bytes, int]:
    """Body of a binary-extension infer request, as perf_analyzer sends it, and its JSON length.

    Binary input; every listed output requested, each with ``binary_data``.
    """
    header = {
        "id": "",
        "inputs": [
            {
                "name": input_name,
                "datatype": INPUT_DATATYPE,
                "shape": list(x.shape),
                "parameters": {"binary_data_size": x.nbytes},
            }
        ],
        "outputs": [{"name": o.name, "parameters": {"binary_data": True}} for o in outputs],
    }
    head = json.dumps(header, separators=(",", ":")).encode()
    return head + x.tobytes(), len(head)


def rest_json_infer_request(
    x: npt.NDArray[np.float64], outputs: tuple[OutputSpec, ...], input_name: str = INPUT
) -> bytes:
    """Body of an all-JSON infer request (no binary extension, which MLServer does not
    speak): the rows as a flat ``data`` list, the outputs named without parameters, so the
    answer is JSON too."""
    body = {
        "inputs": [
            {
                "name": input_name,
                "datatype": INPUT_DATATYPE,
                "shape": list(x.shape),
                "data": x.ravel().tolist(),
            }
        ],
        "outputs": [{"name": o.name} for o in outputs],
    }
    return json.dumps(body, separators=(",", ":")).encode()


def http_request_bytes(path: str, body: bytes, header_length: int | None, port: int) -> bytes:
    """One complete keep-alive HTTP/1.1 POST, headers and body in a single buffer.

    ``header_length`` None: a JSON body (``application/json``, no
    ``Inference-Header-Content-Length``)."""
    if header_length is None:
        kind = "Content-Type: application/json\r\n"
    else:
        kind = (
            "Content-Type: application/octet-stream\r\n"
            f"Inference-Header-Content-Length: {header_length}\r\n"
        )
    head = (
        f"POST {path} HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{port}\r\n"
        f"{kind}"
        f"Content-Length: {len(body)}\r\n"
        "\r\n"
    )
    return head.encode() + body


def grpc_infer_request(
    x: npt.NDArray[np.float64], outputs: tuple[OutputSpec, ...], input_name: str = INPUT
) -> bytes:
    """Serialised ModelInferRequest with the rows in ``raw_input_contents``, as perf_analyzer
    sends it (every listed output requested)."""
    request = ModelInferRequest(
        model_name=MODEL,
        inputs=[InferInputTensor(name=input_name, datatype=INPUT_DATATYPE, shape=list(x.shape))],
        outputs=[InferRequestedOutputTensor(name=o.name) for o in outputs],
        raw_input_contents=[x.tobytes()],
    )
    return bytes(request)


def perf_analyzer_input(x: npt.NDArray[np.float64], input_name: str = INPUT) -> str:
    """``--input-data`` JSON for perf_analyzer: one request carrying exactly these rows."""
    entry = {input_name: {"content": x.ravel().tolist(), "shape": list(x.shape)}}
    return json.dumps({"data": [entry]})
