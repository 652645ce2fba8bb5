"""Model folders for the worker-pool tests: each serves ``probe_runtime.Probe`` from its own
``probe.py``, in worker processes of this interpreter or of another virtualenv; and the
requests the tests send it and what they read from its answers.

A module of its own, not ``conftest``: several test folders have a ``conftest.py``, and
``from conftest import ...`` gets whichever of them was imported first.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from protocol.messages import InferenceRequest, InferenceResponse
from protocol.tensors import input_from_numpy

HERE = Path(__file__).parent


def probe_model(root: Path, name: str, **settings: Any) -> Path:
    """A model folder ``root/name`` serving the probe runtime with extra ``settings``."""
    folder = root / name
    folder.mkdir(parents=True)
    shutil.copy(HERE / "probe_runtime.py", folder / "probe.py")
    body = {"name": name, "implementation": "probe.Probe", **settings}
    (folder / "model-settings.json").write_text(json.dumps(body))
    return folder


def request(x: Any, **parameters: Any) -> InferenceRequest:
    """A request with the one input ``x`` and request ``parameters``."""
    return InferenceRequest(
        inputs=[input_from_numpy("x", np.asarray(x))], parameters=parameters or {}
    )


def output(response: InferenceResponse, name: str) -> Any:
    """The data of the output ``name``."""
    return next(o.data for o in response.outputs if o.name == name)


def pid_of(response: InferenceResponse) -> int:
    """The pid of the worker that answered (the probe's ``pid`` output)."""
    return int(output(response, "pid")[0])
