"""A custom runtime next to its model, as MLServer users write one: ``model-settings.json``
names it ``"implementation": "models.Thermometer"`` and the kernel imports this file from the
model's folder. No plugin, no package, no installation."""

from __future__ import annotations

import numpy as np

import kernel


class Thermometer(kernel.Runtime):
    """Converts Celsius readings (input ``celsius``) to ``fahrenheit`` and ``kelvin``.

    ``parameters.extra.precision`` rounds the answers (default: 2 decimals).
    """

    framework = "custom"

    async def load(self) -> None:
        self.decimals = int(self.settings.parameters.extra.get("precision", 2))

    async def predict(self, request: kernel.InferenceRequest) -> kernel.InferenceResponse:
        (reading,) = request.inputs
        if reading.name != "celsius" or reading.data.dtype.kind not in "iuf":
            raise kernel.BadRequest("send one numeric input named 'celsius'")
        celsius = reading.data.astype(np.float64)
        if (celsius < -273.15).any():
            raise kernel.BadRequest("a reading is below absolute zero (-273.15 °C)")
        return kernel.InferenceResponse(
            model_name=self.name,
            outputs=[
                kernel.output_from_numpy(
                    "fahrenheit", np.round(celsius * 9 / 5 + 32, self.decimals)
                ),
                kernel.output_from_numpy("kelvin", np.round(celsius + 273.15, self.decimals)),
            ],
        )
