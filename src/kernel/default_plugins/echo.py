"""The built-in ``echo`` runtime: answers every input tensor back as an output of the same
name. It needs no framework, so it serves as the smallest working model (smoke tests, and the
ceiling the benchmarks compare real runtimes against)."""

from __future__ import annotations

from kernel.hookspecs import RegisterRuntime, hookimpl
from kernel.runtime import Runtime
from protocol.messages import InferenceRequest, InferenceResponse, ResponseOutput

__all__ = ["EchoRuntime"]


class EchoRuntime(Runtime):
    """Returns the request's inputs as outputs (all of them, or those the request names)."""

    framework = "echo"

    async def predict(self, request: InferenceRequest) -> InferenceResponse:
        outputs = [
            ResponseOutput(name=i.name, shape=i.shape, datatype=i.datatype, data=i.data)
            for i in request.inputs
        ]
        if request.outputs:
            wanted = {o.name for o in request.outputs}
            outputs = [o for o in outputs if o.name in wanted]
        return InferenceResponse(model_name=self.name, outputs=outputs)


@hookimpl
def kernel_register_runtimes(register: RegisterRuntime) -> None:
    register("echo", EchoRuntime)
