"""``textstats``: counts characters and words of UTF-8 texts, and upper-cases them."""

from __future__ import annotations

import numpy as np

import kernel
from protocol.messages import MetadataTensor


class TextStats(kernel.Runtime):
    """Input ``text`` (BYTES, UTF-8); outputs ``chars`` and ``words`` (INT64) and ``upper``
    (BYTES), one element per text. ``parameters.extra.max_chars`` rejects longer texts."""

    framework = "textstats"

    async def load(self) -> None:
        self.max_chars = int(self.settings.parameters.extra.get("max_chars", 10_000))

    async def predict(self, request: kernel.InferenceRequest) -> kernel.InferenceResponse:
        named = {item.name: item for item in request.inputs}
        if "text" not in named or named["text"].datatype != "BYTES":
            raise kernel.BadRequest("the model takes one BYTES input named 'text'")
        raw = named["text"].data.reshape(-1)
        try:
            texts = [bytes(item).decode("utf-8") for item in raw]
        except UnicodeDecodeError as exc:
            raise kernel.BadRequest(f"input 'text' is not UTF-8: {exc}") from None
        too_long = [i for i, t in enumerate(texts) if len(t) > self.max_chars]
        if too_long:
            raise kernel.BadRequest(f"texts {too_long} are longer than {self.max_chars} chars")
        upper = np.array([t.upper().encode() for t in texts], dtype=object)
        return kernel.InferenceResponse(
            model_name=self.name,
            outputs=[
                kernel.output_from_numpy("chars", np.array([len(t) for t in texts], np.int64)),
                kernel.output_from_numpy(
                    "words", np.array([len(t.split()) for t in texts], np.int64)
                ),
                kernel.output_from_numpy("upper", upper),
            ],
        )

    def inputs(self) -> list[MetadataTensor]:
        return [MetadataTensor("text", "BYTES", [-1])]

    def outputs(self) -> list[MetadataTensor]:
        return [
            MetadataTensor("chars", "INT64", [-1]),
            MetadataTensor("words", "INT64", [-1]),
            MetadataTensor("upper", "BYTES", [-1]),
        ]
