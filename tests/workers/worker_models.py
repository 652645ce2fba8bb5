"""Model folders for the worker-pool tests: each serves ``probe_runtime.Probe`` from its own
``probe.py``, in worker processes of this interpreter or of another virtualenv.

A module of its own, not ``conftest``: several test folders have a ``conftest.py``, and
``from conftest import ...`` gets whichever of them was imported first.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent


def probe_model(root: Path, name: str, **settings: Any) -> Path:
    """A model folder ``root/name`` serving the probe runtime with extra ``settings``."""
    folder = root / name
    folder.mkdir(parents=True)
    shutil.copy(HERE / "probe_runtime.py", folder / "probe.py")
    body = {"name": name, "implementation": "probe.Probe", **settings}
    (folder / "model-settings.json").write_text(json.dumps(body))
    return folder
