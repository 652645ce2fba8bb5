"""pandas is optional: nothing imports it until a ``pd`` value is used, and without it a request
that needs it is a 400 naming the extra to install. Each case runs in a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

SERVE = """
import asyncio, sys
{block}
import numpy as np
from kernel.errors import BadRequest
from kernel.lifecycle import Kernel
from kernel.settings import ServerSettings
from protocol import rest

ROOT = sys.argv[1]
PD = (b'{{"parameters": {{"content_type": "pd"}}, "inputs": [{{"name": "a", "shape": [2],'
      b' "datatype": "INT32", "data": [1, 2]}}]}}')
PLAIN = b'{{"inputs": [{{"name": "a", "shape": [2], "datatype": "INT32", "data": [1, 2]}}]}}'


async def main():
    settings = ServerSettings(model_repository_root=ROOT, executor_threads=2)
    async with Kernel(settings, autoload=False, environ={{}}) as kernel:
        echo = await kernel.infer("echo", None, rest.decode_infer_request(PLAIN))
        print("echo", echo.outputs[0].data.tolist())
        plain = await kernel.infer("frame", None, rest.decode_infer_request(PLAIN))
        print("rows", plain.outputs[0].data.tolist())
        try:
            response = await kernel.infer("frame", None, rest.decode_infer_request(PD))
            print("rows", response.outputs[0].data.tolist())
        except BadRequest as exc:
            print("400", exc)
    print("pandas imported:", sys.modules.get("pandas") is not None)

asyncio.run(main())
"""

MODEL = """
import numpy as np
from kernel import InferenceRequest, InferenceResponse, Runtime, output_from_numpy
from kernel.codecs import decode_request


class Frame(Runtime):
    '''Reads the request with whatever content type it names (a plain request: an array).'''

    async def predict(self, request: InferenceRequest) -> InferenceResponse:
        value = decode_request(request)
        rows = output_from_numpy("rows", np.array([len(value)]))
        return InferenceResponse(model_name="", outputs=[rows])
"""


def _serve(tmp_path: Path, block: str) -> str:
    (tmp_path / "echo").mkdir()
    (tmp_path / "echo" / "model-settings.json").write_text('{"implementation": "echo"}')
    (tmp_path / "frame").mkdir()
    (tmp_path / "frame" / "models.py").write_text(MODEL)
    (tmp_path / "frame" / "model-settings.json").write_text('{"implementation": "models.Frame"}')
    script = tmp_path / "serve.py"
    script.write_text(SERVE.format(block=block))
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_without_pandas_a_pd_request_is_a_400_naming_the_extra(tmp_path: Path) -> None:
    # None in sys.modules makes every `import pandas` raise ImportError, as if not installed.
    out = _serve(tmp_path, "sys.modules['pandas'] = None")
    assert out.splitlines() == [
        "echo [1, 2]",
        "rows [2]",
        "400 content type 'pd' needs pandas, which is not installed on the server"
        " (pip install 'kernel[pandas]')",
        "pandas imported: False",
    ]


def test_pandas_is_imported_only_when_a_frame_is_decoded(tmp_path: Path) -> None:
    out = _serve(tmp_path, "")
    assert "rows [2]\nrows [2]\npandas imported: True" in out
    lazy = textwrap.dedent(
        """
        import sys, asyncio
        import kernel, kernel.codecs
        from kernel.codecs import default_registry, encode_request, decode_request
        import numpy as np
        assert decode_request(encode_request({"a": np.arange(3)}))["a"].tolist() == [0, 1, 2]
        print(default_registry().names(), "pandas" in sys.modules)
        """
    )
    done = subprocess.run([sys.executable, "-c", lazy], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "['base64', 'datetime', 'dict', 'np', 'pd', 'str'] False"
