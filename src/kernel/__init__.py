"""kernel: a V2 / Open Inference Protocol model server with runtime plugins.

The public API for plugin authors: ``Runtime`` (subclass it), ``hookimpl`` (mark hook
implementations), ``ModelSettings``, the errors a runtime may raise, and the protocol pieces a
runtime reads and builds: ``InferenceRequest`` (each input's ``data`` is a numpy array),
``InferenceResponse`` and ``output_from_numpy``; and what most runtimes do around the framework
call (``kernel.runtime_helpers``: ``requested_outputs``, ``default_output``, ``feature_matrix``,
``int_setting``, ...); ``MetricError`` and ``ModelMetrics`` (a runtime's own Prometheus metrics,
``self.metrics``). See docs/plugins.md.
"""

from __future__ import annotations

from kernel.errors import BadRequest, InferenceError, KernelError
from kernel.hookspecs import RegisterRuntime, hookimpl
from kernel.model_settings import ModelParameters, ModelSettings
from kernel.runtime import Runtime
from kernel.runtime_helpers import (
    default_output,
    feature_column,
    feature_matrix,
    int_setting,
    label_datatype,
    requested_outputs,
    tensor_array,
)
from kernel.runtime_metrics import MetricError, ModelMetrics
from protocol.messages import InferenceRequest, InferenceResponse, ResponseOutput
from protocol.tensors import output_from_numpy

__all__ = [
    "BadRequest",
    "InferenceError",
    "InferenceRequest",
    "InferenceResponse",
    "KernelError",
    "MetricError",
    "ModelMetrics",
    "ModelParameters",
    "ModelSettings",
    "RegisterRuntime",
    "ResponseOutput",
    "Runtime",
    "__version__",
    "default_output",
    "feature_column",
    "feature_matrix",
    "hookimpl",
    "int_setting",
    "label_datatype",
    "output_from_numpy",
    "requested_outputs",
    "tensor_array",
]

__version__ = "0.1.0"
