"""An example plugin distribution: registers the ``textstats`` runtime with the kernel."""

from __future__ import annotations

import kernel
from kernel_example_plugin.runtime import TextStats

__all__ = ["TextStats", "kernel_register_runtimes"]


@kernel.hookimpl
def kernel_register_runtimes(register: kernel.RegisterRuntime) -> None:
    register("textstats", TextStats)
