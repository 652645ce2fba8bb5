"""``Ledger``: a runtime with real state, for the tests of handing state over on a reload.

A request counter saved to ``state.json`` in its model folder at unload and read back at load,
each load and unload logged to ``events.log`` (with the settings' ``tag`` and the count). It
lives in the model folder's own ``models.py``, so it loads in a server process and in a worker
process alike. ``keeps_state`` is the settings' ``extra.stateful``; ``extra.fail`` makes its
load fail; the request parameter ``wait_for`` holds a request until that file exists.
tests/kernel/test_stateful_reload.py (one server process) and
tests/supervisor/test_stateful_handover.py (``kernel serve --workers 2``) use it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["LEDGER", "events", "saved", "write_ledger"]

LEDGER = '''
import json
import os
import time
from pathlib import Path

import numpy as np

from kernel.runtime import Runtime
from protocol.messages import InferenceResponse, ResponseOutput


class Ledger(Runtime):
    """Counts the requests it answers; the count is its state."""

    count = 0

    @classmethod
    def keeps_state(cls, settings):
        return bool(settings.extra.get("stateful"))

    def _file(self, name):
        return Path(self.settings.path) / name

    def _log(self, what):
        with open(self._file("events.log"), "a") as log:
            log.write(f"{what} {self.settings.extra.get('tag', '')} {self.count}\\n")

    async def load(self):
        if self.settings.extra.get("fail"):
            raise RuntimeError("the new settings are broken")
        state = self._file("state.json")
        self.count = json.loads(state.read_text())["count"] if state.exists() else 0
        self._log("load")

    async def predict(self, request):
        params = request.parameters or {}
        if "wait_for" in params:  # hold the request until the test creates that file
            deadline = time.monotonic() + 10
            while not os.path.exists(params["wait_for"]) and time.monotonic() < deadline:
                time.sleep(0.01)
        self.count += 1
        count = np.array([self.count], dtype=np.int64)
        return InferenceResponse(
            model_name=self.name, outputs=[ResponseOutput("count", [1], "INT64", data=count)]
        )

    async def unload(self):
        state = self._file("state.json")
        temporary = state.with_suffix(".tmp")
        temporary.write_text(json.dumps({"count": self.count}))
        os.replace(temporary, state)
        self._log("unload")
'''


def write_ledger(folder: Path, tag: str, stateful: bool = True, **more: Any) -> Path:
    """Write the ledger model into ``folder``; ``more`` goes into its settings (``extra``:
    merged into ``parameters.extra``)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "models.py").write_text(LEDGER)
    extra = {"tag": tag, "stateful": stateful, **more.pop("extra", {})}
    settings = {"implementation": "models.Ledger", "parameters": {"extra": extra}, **more}
    (folder / "model-settings.json").write_text(json.dumps(settings))
    return folder


def events(folder: Path) -> list[str]:
    """The loads and unloads so far, as ``"load TAG COUNT"`` / ``"unload TAG COUNT"``."""
    log = folder / "events.log"
    return log.read_text().splitlines() if log.exists() else []


def saved(folder: Path) -> int:
    """The count the last unload saved."""
    return int(json.loads((folder / "state.json").read_text())["count"])
