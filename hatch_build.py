"""Build hook: one extra per runtime plugin found under plugins/.

From a source tree, each extra points at the plugin's folder (``kernel-sklearn @ file:///...``),
so ``pip install '.[sklearn]'`` can never fetch a ``kernel-*`` distribution from an index: an
unrelated project owns the name ``kernel`` on PyPI and the ``kernel-*`` names are unclaimed there.
Building the wheels of an offline wheelhouse sets ``KERNEL_EXTRAS_BY_NAME=1``; the extras then
name the plugin distributions plainly and resolve inside the wheelhouse
(``pip install --no-index --find-links wheelhouse 'kernel[sklearn]'``).
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any

from hatchling.metadata.plugin.interface import MetadataHookInterface

# Extras that are not runtime plugins.
STATIC_EXTRAS = {
    "pandas": ["pandas>=2.0"],
    # uvicorn 0.30 brought Server.capture_signals, which kernel's uvicorn server relies on.
    "uvicorn": ["uvicorn>=0.30", "httptools>=0.6"],
}


class RuntimeExtrasHook(MetadataHookInterface):
    PLUGIN_NAME = "custom"

    def update(self, metadata: dict[str, Any]) -> None:
        root = Path(self.root)
        by_name = os.environ.get("KERNEL_EXTRAS_BY_NAME") == "1"
        extras: dict[str, list[str]] = {k: list(v) for k, v in STATIC_EXTRAS.items()}
        for project in sorted(root.glob("plugins/*/pyproject.toml")):
            with project.open("rb") as f:
                dist = tomllib.load(f)["project"]["name"]
            # kernel-alibi-detect -> extra "alibi-detect"
            extra = re.sub(r"^kernel-", "", dist)
            if by_name:
                extras[extra] = [dist]
            else:
                extras[extra] = [f"{dist} @ {project.parent.resolve().as_uri()}"]
        metadata["optional-dependencies"] = extras
