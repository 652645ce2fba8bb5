from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from core_helpers import EVENTS, gate, make_kernel, request, tag_of, write_model

from kernel.api import ControlPlane, DataPlane
from kernel.errors import (
    BadRequest,
    InferenceError,
    ModelLoadError,
    ModelNotFound,
    ModelNotReady,
)
from kernel.lifecycle import Kernel

pytestmark = pytest.mark.anyio


def tagged(folder: Path, tag: str, **extra: object) -> Path:
    return write_model(
        folder, {"implementation": "tagged", "parameters": {"extra": {"tag": tag, **extra}}}
    )


async def test_kernel_is_both_planes(tmp_path: Path) -> None:
    kernel = make_kernel(tmp_path)
    data: DataPlane = kernel  # mypy checks the structural match
    control: ControlPlane = kernel
    assert isinstance(data, Kernel)
    assert isinstance(control, Kernel)
    assert not kernel.live()
    assert not kernel.ready()


async def test_infer_fills_name_version_and_id(tmp_path: Path) -> None:
    write_model(
        tmp_path / "m",
        {"implementation": "tagged", "parameters": {"version": "3", "extra": {"tag": "a"}}},
    )
    async with make_kernel(tmp_path) as kernel:
        assert kernel.live()
        assert kernel.ready()
        req = request([1, 2, 3, 4])
        req = type(req)(inputs=req.inputs, id="req-7")
        response = await kernel.infer("m", None, req)
        assert (response.model_name, response.model_version, response.id) == ("m", "3", "req-7")
        np.testing.assert_array_equal(response.outputs[0].data, [[2, 3, 4, 5]])
        assert (await kernel.infer("m", "3", request([0] * 4))).model_version == "3"


async def test_failing_model_is_unavailable_while_others_serve(tmp_path: Path) -> None:
    tagged(tmp_path / "good", "g")
    write_model(tmp_path / "bad", {"implementation": "broken"})
    write_model(tmp_path / "typo", {"implementation": "tagged", "paramters": {}})
    write_model(tmp_path / "missing", {"implementation": "mlserver_xgboost.XGBoostModel"})
    async with make_kernel(tmp_path) as kernel:
        index = {e.name: e for e in await kernel.repository_index()}
        assert index["good"].state == "READY"
        assert index["bad"].state == "UNAVAILABLE"
        assert "weights file is corrupt" in index["bad"].reason
        assert "unknown field 'paramters'" in index["typo"].reason
        assert "pip install kernel[xgboost]" in index["missing"].reason
        assert [e.name for e in await kernel.repository_index(ready_only=True)] == ["good"]
        with pytest.raises(ModelNotReady, match="weights file is corrupt"):
            await kernel.infer("bad", None, request([1, 2, 3, 4]))
        assert tag_of(await kernel.infer("good", None, request([1, 2, 3, 4]))) == "g"
        assert not kernel.ready()  # strict: every model must be READY
        assert kernel.model_ready("good", None)
        assert not kernel.model_ready("bad", None)


async def test_relaxed_readiness(tmp_path: Path) -> None:
    tagged(tmp_path / "good", "g")
    write_model(tmp_path / "bad", {"implementation": "broken"})
    tagged(tmp_path / "slow", "s", load_gate="slow")
    kernel = make_kernel(tmp_path, strict_readiness=False)
    await kernel.start()
    try:
        await asyncio.sleep(0.2)
        assert kernel.live()
        assert not kernel.ready()  # "slow" is still loading
        gate("slow").set()
        await kernel.wait_loaded()
        assert kernel.ready()  # every model finished loading, one of them failed
    finally:
        await kernel.stop()


async def test_unknown_model_and_version(tmp_path: Path) -> None:
    tagged(tmp_path / "m", "a")
    async with make_kernel(tmp_path) as kernel:
        with pytest.raises(ModelNotFound, match=r"'nope'.*'m'"):
            await kernel.infer("nope", None, request([1, 2, 3, 4]))
        with pytest.raises(ModelNotFound, match="no version '9'"):
            kernel.model_ready("m", "9")
        with pytest.raises(ModelNotFound):
            kernel.model_metadata("nope", None)


async def test_newest_version_is_the_default(tmp_path: Path) -> None:
    root = write_model(tmp_path / "m", {"implementation": "tagged"})
    for v in ("2", "10", "9"):
        write_model(root / v, {"parameters": {"extra": {"tag": f"v{v}"}}})
    async with make_kernel(tmp_path) as kernel:
        assert tag_of(await kernel.infer("m", None, request([1, 2, 3, 4]))) == "v10"
        assert tag_of(await kernel.infer("m", "2", request([1, 2, 3, 4]))) == "v2"
        metadata = kernel.model_metadata("m", None)
        assert metadata.versions == ["2", "9", "10"]


async def test_runtime_error_is_inference_error_and_kernel_keeps_serving(tmp_path: Path) -> None:
    write_model(tmp_path / "r", {"implementation": "raising"})
    tagged(tmp_path / "ok", "ok")
    async with make_kernel(tmp_path) as kernel:
        with pytest.raises(InferenceError, match=r"cannot multiply shapes \(1,3\) and \(4,2\)"):
            await kernel.infer("r", None, request([1, 2, 3, 4]))
        assert kernel.model_ready("r", None)  # one failed predict does not fail the model
        assert tag_of(await kernel.infer("ok", None, request([1, 2, 3, 4]))) == "ok"


async def test_bad_request_passes_through(tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "models.py").write_text(
        "from kernel import Runtime, BadRequest\n"
        "class Picky(Runtime):\n"
        "    async def predict(self, request):\n"
        "        raise BadRequest('expected 4 features, got 3')\n"
    )
    write_model(tmp_path / "m", {"implementation": "models.Picky"})
    async with make_kernel(tmp_path) as kernel:
        with pytest.raises(BadRequest, match="expected 4 features, got 3") as info:
            await kernel.infer("m", None, request([1, 2, 3]))
        assert not isinstance(info.value, InferenceError)
        text = kernel.metrics().decode()
        assert (
            'kernel_infer_errors_total{model="m",version="",protocol="rest",code="400"} 1' in text
        )


async def test_blocking_predict_does_not_block_the_loop(tmp_path: Path) -> None:
    tagged(tmp_path / "m", "a")
    async with make_kernel(tmp_path) as kernel:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        task = asyncio.create_task(ticker())
        started = time.perf_counter()
        await kernel.infer("m", None, request([1, 2, 3, 4], sleep=0.5))
        task.cancel()
        assert time.perf_counter() - started >= 0.5
        assert ticks >= 20  # the loop kept running while predict slept in its thread


async def test_reload_swaps_only_when_ready_and_in_flight_finish_on_old(tmp_path: Path) -> None:
    folder = tagged(tmp_path / "m", "old")
    async with make_kernel(tmp_path) as kernel:
        in_flight = asyncio.create_task(kernel.infer("m", None, request([1, 2, 3, 4], wait="p")))
        await asyncio.sleep(0.1)
        tagged(folder, "new", load_gate="load-new")
        reload = asyncio.create_task(kernel.load_model("m"))
        await asyncio.sleep(0.2)
        # The new version is loading; the old one still answers and the server stays ready.
        assert not reload.done()
        assert tag_of(await kernel.infer("m", None, request([1, 2, 3, 4]))) == "old"
        assert kernel.ready()
        assert [(e.name, e.state) for e in await kernel.repository_index()] == [("m", "READY")]
        gate("load-new").set()
        await reload
        assert tag_of(await kernel.infer("m", None, request([1, 2, 3, 4]))) == "new"
        assert ("unload", "old") not in EVENTS  # the old one still has a request in flight
        assert not in_flight.done()
        gate("p").set()
        assert tag_of(await in_flight) == "old"
        for _ in range(100):
            if ("unload", "old") in EVENTS:
                break
            await asyncio.sleep(0.02)
        assert EVENTS == [("load", "old"), ("load", "new"), ("unload", "old")]


async def test_failed_reload_keeps_old_version(tmp_path: Path) -> None:
    folder = tagged(tmp_path / "m", "old")
    async with make_kernel(tmp_path) as kernel:
        (folder / "model-settings.json").write_text(json.dumps({"implementation": "broken"}))
        with pytest.raises(ModelLoadError, match="weights file is corrupt"):
            await kernel.load_model("m")
        assert tag_of(await kernel.infer("m", None, request([1, 2, 3, 4]))) == "old"
        assert kernel.ready()


async def test_unload_then_404_then_load_again(tmp_path: Path) -> None:
    tagged(tmp_path / "m", "a")
    async with make_kernel(tmp_path) as kernel:
        await kernel.unload_model("m")
        assert ("unload", "a") in EVENTS
        with pytest.raises(ModelNotFound):
            await kernel.infer("m", None, request([1, 2, 3, 4]))
        with pytest.raises(ModelNotFound):
            await kernel.unload_model("m")
        index = await kernel.repository_index()
        assert [(e.name, e.state, e.reason) for e in index] == [("m", "UNAVAILABLE", "unloaded")]
        assert kernel.ready()
        await kernel.load_model("m")
        assert tag_of(await kernel.infer("m", None, request([1, 2, 3, 4]))) == "a"
        with pytest.raises(ModelNotFound, match="not in the model repository"):
            await kernel.load_model("ghost")


async def test_reload_removes_versions_gone_from_repository(tmp_path: Path) -> None:
    root = write_model(tmp_path / "m", {"implementation": "tagged"})
    for v in ("1", "2"):
        (root / v).mkdir()
    async with make_kernel(tmp_path) as kernel:
        (root / "2").rmdir()
        await kernel.load_model("m")
        await kernel.wait_loaded()
        assert [e.version for e in await kernel.repository_index()] == ["1"]


async def test_metadata_and_config(tmp_path: Path) -> None:
    write_model(
        tmp_path / "m",
        {
            "implementation": "tagged",
            "max_batch_size": 16,
            "platform": "tagged-platform",
            "parameters": {"content_type": "np"},
        },
    )
    async with make_kernel(tmp_path) as kernel:
        metadata = kernel.model_metadata("m", None)
        assert metadata.platform == "tagged-platform"
        assert [i.name for i in metadata.inputs] == ["x"]
        assert metadata.parameters == {"content_type": "np"}
        config = kernel.model_config("m", None)
        assert (config.name, config.backend, config.max_batch_size) == ("m", "tagged", 16)
        assert [(i.name, i.data_type, i.dims) for i in config.input] == [("x", "TYPE_FP32", [4])]
        assert [(o.data_type, o.dims) for o in config.output] == [
            ("TYPE_FP32", [4]),
            ("TYPE_STRING", []),
        ]
        server = kernel.server_metadata()
        assert server.name == "kernel"
        assert set(server.extensions) == {
            "binary_tensor_data",
            "model_repository",
            "model_configuration",
        }


async def test_metadata_of_unready_model_is_503(tmp_path: Path) -> None:
    write_model(tmp_path / "bad", {"implementation": "broken"})
    async with make_kernel(tmp_path) as kernel:
        with pytest.raises(ModelNotReady):
            kernel.model_metadata("bad", None)
        with pytest.raises(ModelNotReady):
            kernel.model_config("bad", None)


async def test_framework_imported_once_before_concurrent_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    probe = tmp_path / "lib"
    probe.mkdir()
    (probe / "kernel_fw_probe.py").write_text(
        "import threading, time\nIMPORTS = [threading.current_thread().name]\ntime.sleep(0.2)\n"
    )
    monkeypatch.syspath_prepend(str(probe))
    models = tmp_path / "models"
    for i in range(4):
        write_model(models / f"m{i}", {"implementation": "fw.Probe"})
        (models / f"m{i}" / "fw.py").write_text(
            "import sys\n"
            "from kernel import Runtime\n"
            "class Probe(Runtime):\n"
            "    framework_modules = ('kernel_fw_probe',)\n"
            "    async def load(self):\n"
            "        assert 'kernel_fw_probe' in sys.modules\n"
        )
    write_model(models / "nofw", {"implementation": "models.NoFw"})
    (models / "nofw" / "models.py").write_text(
        "from kernel import Runtime\n"
        "class NoFw(Runtime):\n"
        "    framework_modules = ('kernel_no_such_framework',)\n"
    )
    async with make_kernel(models) as kernel:
        index = {e.name: e for e in await kernel.repository_index()}
        assert all(index[f"m{i}"].state == "READY" for i in range(4)), index
        assert "kernel_no_such_framework" in index["nofw"].reason
    import kernel_fw_probe  # type: ignore[import-not-found]

    assert len(kernel_fw_probe.IMPORTS) == 1
    assert kernel_fw_probe.IMPORTS[0] != threading.main_thread().name


PROBE = """
import time
SPANS = []

def busy(kind, seconds=0.15):
    start = time.monotonic()
    time.sleep(seconds)
    SPANS.append((kind, start, time.monotonic()))
"""


def _overlap(a: tuple[str, float, float], b: tuple[str, float, float]) -> bool:
    return a[1] < b[2] and b[1] < a[2]


async def test_loads_that_import_run_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Loads of ``load_imports`` runtimes run one at a time and never beside another runtime's
    first import; other runtimes' loads still run side by side (with them too)."""
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "kernel_load_probe.py").write_text(PROBE)
    # A framework whose first import takes a while, imported by ``prepare`` for ``Fw``.
    (lib / "kernel_slow_fw.py").write_text(
        "import kernel_load_probe\nkernel_load_probe.busy('fw', 0.3)\n"
    )
    monkeypatch.syspath_prepend(str(lib))
    runtimes = (
        "import kernel_load_probe\n"
        "from kernel import Runtime\n"
        "class Importing(Runtime):\n"
        "    load_imports = True\n"
        "    async def load(self):\n"
        "        kernel_load_probe.busy('importing')\n"
        "class Plain(Runtime):\n"
        "    async def load(self):\n"
        "        kernel_load_probe.busy('plain')\n"
        "class Fw(Runtime):\n"
        "    framework_modules = ('kernel_slow_fw',)\n"
    )
    models = tmp_path / "models"
    names = [f"importing{i}" for i in range(3)] + [f"plain{i}" for i in range(3)] + ["fw"]
    for name in names:
        kind = name.rstrip("0123456789").capitalize()
        write_model(models / name, {"implementation": f"runtimes.{kind}"})
        (models / name / "runtimes.py").write_text(runtimes)
    async with make_kernel(models) as kernel:
        index = {e.name: e for e in await kernel.repository_index()}
        assert all(e.state == "READY" for e in index.values()), index
    import kernel_load_probe  # type: ignore[import-not-found]

    spans = kernel_load_probe.SPANS
    importing = [s for s in spans if s[0] == "importing"]
    plain = [s for s in spans if s[0] == "plain"]
    assert len(importing) == len(plain) == 3
    assert any(s[0] == "fw" for s in spans)
    apart = [s for s in spans if s[0] != "plain"]  # importing loads and the first import
    for span in importing:
        assert not any(_overlap(span, other) for other in apart if other is not span), spans
    # The kernel does load other models side by side (else the check above proves nothing).
    assert any(_overlap(a, b) for a in plain for b in spans if b is not a)


async def test_shutdown_rejects_new_requests_and_waits_for_in_flight(tmp_path: Path) -> None:
    tagged(tmp_path / "m", "a")
    kernel = make_kernel(tmp_path, graceful_timeout=5)
    await kernel.start()
    await kernel.wait_loaded()
    in_flight = asyncio.create_task(kernel.infer("m", None, request([1, 2, 3, 4], wait="p")))
    await asyncio.sleep(0.1)
    stopping = asyncio.create_task(kernel.stop())
    await asyncio.sleep(0.1)
    assert not kernel.ready()
    with pytest.raises(ModelNotReady, match="shutting down"):
        await kernel.infer("m", None, request([1, 2, 3, 4]))
    assert not stopping.done()
    assert ("unload", "a") not in EVENTS
    gate("p").set()
    assert tag_of(await in_flight) == "a"
    await stopping
    assert EVENTS[-1] == ("unload", "a")
    assert not kernel.live()


async def test_runtime_returning_wrong_type(tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "models.py").write_text(
        "from kernel import Runtime\n"
        "class Dicty(Runtime):\n"
        "    async def predict(self, request):\n"
        "        return {'outputs': []}\n"
    )
    write_model(tmp_path / "m", {"implementation": "models.Dicty"})
    async with make_kernel(tmp_path) as kernel:
        with pytest.raises(InferenceError, match="returned dict"):
            await kernel.infer("m", None, request([1]))


def test_start_needs_models_folder(tmp_path: Path) -> None:
    from kernel.errors import SettingsError

    kernel: Kernel = make_kernel(tmp_path / "nope")
    with pytest.raises(SettingsError, match="does not exist"):
        asyncio.run(kernel.start())


async def test_runtime_that_awaits_runs_on_its_thread_loop(tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "models.py").write_text(
        "import asyncio, threading\n"
        "from kernel import Runtime\n"
        "from protocol.messages import InferenceResponse\n"
        "class Awaits(Runtime):\n"
        "    async def load(self):\n"
        "        await asyncio.sleep(0.01)\n"
        "    async def predict(self, request):\n"
        "        await asyncio.sleep(0.01)\n"
        "        await asyncio.get_running_loop().run_in_executor(None, lambda: None)\n"
        "        if request.parameters:\n"
        "            raise KeyError('after awaiting')\n"
        "        thread = threading.current_thread().name\n"
        "        params = {'thread': thread}\n"
        "        return InferenceResponse(model_name='', outputs=[], parameters=params)\n"
    )
    write_model(tmp_path / "m", {"implementation": "models.Awaits"})
    async with make_kernel(tmp_path) as kernel:
        response = await kernel.infer("m", None, request([1]))
        assert response.model_name == "m"
        assert response.parameters
        assert response.parameters["thread"].startswith("kernel-runtime")
        with pytest.raises(InferenceError, match="KeyError: 'after awaiting'"):
            await kernel.infer("m", None, request([1], fail=True))
        assert kernel.model_ready("m", None)


async def test_heap_frozen_after_loads_and_given_back_on_unload(tmp_path: Path) -> None:
    import gc
    import weakref

    tagged(tmp_path / "m", "a")
    gc.unfreeze()
    async with make_kernel(tmp_path) as kernel:  # an embedded kernel leaves the collector be
        assert gc.get_freeze_count() == 0
    async with make_kernel(tmp_path, freeze_heap=True) as kernel:
        # Start-up loads finished: what lives now is out of the collector's reach.
        assert gc.get_freeze_count() > 0
        mv = kernel._models["m"].find(None)
        assert mv.runtime is not None
        runtime = weakref.ref(mv.runtime)
        # A reference cycle through the runtime (only the collector can free it), frozen by
        # the next load.
        cycle: list[object] = [mv.runtime]
        cycle.append(cycle)
        del mv, cycle
        tagged(tmp_path / "n", "b")
        await kernel.load_model("n")
        await kernel.unload_model("m")
        assert gc.get_freeze_count() == 0  # given back, so the cycle can go
        gc.collect()
        assert runtime() is None
        await kernel.load_model("m")
        assert gc.get_freeze_count() > 0
    assert gc.get_freeze_count() == 0
