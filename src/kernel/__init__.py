"""kernel: a V2 / Open Inference Protocol model server with runtime plugins.

The public API for plugin authors: ``Runtime`` (subclass it), ``hookimpl`` (mark hook
implementations), ``ModelSettings``, and the errors a runtime may raise.
"""

from __future__ import annotations

from kernel.errors import BadRequest, InferenceError, KernelError
from kernel.hookspecs import RegisterRuntime, hookimpl
from kernel.model_settings import ModelParameters, ModelSettings
from kernel.runtime import Runtime

__all__ = [
    "BadRequest",
    "InferenceError",
    "KernelError",
    "ModelParameters",
    "ModelSettings",
    "RegisterRuntime",
    "Runtime",
    "__version__",
    "hookimpl",
]

__version__ = "0.1.0"
