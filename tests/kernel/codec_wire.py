"""Send messages through the real wire codecs (REST JSON, REST binary extension, gRPC) and back,
as a client and the server would, for the content-type tests."""

from __future__ import annotations

from collections.abc import Callable

from protocol import grpc as g
from protocol import rest
from protocol.messages import InferenceRequest, InferenceResponse, RequestOutput

WIRES = ("json", "binary", "grpc")


def request_over(wire: str, request: InferenceRequest) -> InferenceRequest:
    """``request`` as the server decodes it after the client sent it over ``wire``."""
    if wire == "grpc":
        return g.decode_infer_request(bytes(g.infer_request_to_proto(request, "m")))
    body, header = rest.encode_infer_request(request, binary=wire == "binary")
    return rest.decode_infer_request(body, header)


def response_over(wire: str, response: InferenceResponse) -> InferenceResponse:
    """``response`` as the client decodes it after the server sent it over ``wire``."""
    if wire == "grpc":
        message = g.decode_message(g.encode_infer_response(response), g.pb.ModelInferResponse)
        return g.infer_response_from_proto(message)
    binary = wire == "binary"
    asked = InferenceRequest(
        inputs=[],
        parameters={"binary_data_output": binary},
        outputs=[RequestOutput(o.name, {"binary_data": binary}) for o in response.outputs],
    )
    body, header = rest.encode_infer_response(response, asked)
    return rest.decode_infer_response(body, header)


Over = Callable[[str, InferenceRequest], InferenceRequest]
