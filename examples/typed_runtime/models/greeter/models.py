"""A typed runtime: ``predict`` takes and returns Python values, never protocol messages.

The kernel reads the signature once, when the model loads: each parameter is the input of the
same name, decoded by its type (``list[str]`` from BYTES, a numpy array of the tensor's dtype),
and the returned tuple becomes one output per element, named by ``model-settings.json``
``outputs``. A missing or unexpected input is a 400 that names it, before ``predict`` runs.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

import kernel


class Greeter(kernel.Runtime):
    """Greets each person and gives their age in months."""

    async def load(self) -> None:
        self.template = str(self.settings.parameters.extra.get("template", "Hello, {name}!"))

    # A typed predict replaces the message signature on purpose, which mypy reports as an
    # incompatible override.
    async def predict(  # type: ignore[override]
        self, name: list[str], age: npt.NDArray[np.int64]
    ) -> tuple[list[str], npt.NDArray[np.int64]]:
        if len(name) != age.size:
            raise kernel.BadRequest(f"{len(name)} names but {age.size} ages")
        greetings = [self.template.format(name=n) for n in name]
        return greetings, age.reshape(-1).astype(np.int64) * 12
