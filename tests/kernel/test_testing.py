"""``kernel.testing``: a real kernel with exactly the given plugins, behind the real REST and
gRPC transports on loopback."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import numpy as np
import pytest

import kernel
from kernel.errors import KernelError, PluginLoadError
from kernel.testing import CallError, serve_plugins, serve_plugins_sync


class Affine(kernel.Runtime):
    """``y = x * scale + shift``; ``scale`` and ``shift`` from ``parameters.extra``."""

    async def load(self) -> None:
        extra = self.settings.parameters.extra
        if "broken" in extra:
            raise OSError("weights missing")
        self.scale, self.shift = float(extra.get("scale", 1)), float(extra.get("shift", 0))

    async def predict(self, request: kernel.InferenceRequest) -> kernel.InferenceResponse:
        x = request.inputs[0].data
        if x.dtype.kind not in "iuf":
            raise kernel.BadRequest(f"input {request.inputs[0].name!r} must be numeric")
        return kernel.InferenceResponse(
            model_name=self.name,
            outputs=[kernel.output_from_numpy("y", x * self.scale + self.shift)],
        )


class AffinePlugin:
    """Not installed anywhere: reaches the kernel as a pluggy plugin object."""

    @kernel.hookimpl
    def kernel_register_runtimes(self, register: kernel.RegisterRuntime) -> None:
        register("affine", Affine)


MODELS = {"lin": {"implementation": "affine", "parameters": {"extra": {"scale": 2, "shift": 1}}}}


def _refused(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def test_serves_a_plugin_object_over_rest_json_binary_and_grpc() -> None:
    x = np.array([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32)
    with serve_plugins_sync(AffinePlugin(), models=MODELS) as server:
        for out in (
            server.infer_rest("lin", {"x": x}),
            server.infer_rest("lin", {"x": x}, binary=True),
            server.infer_grpc("lin", {"x": x}),
        ):
            assert out["y"].dtype == np.float32
            np.testing.assert_array_equal(out["y"], x * 2 + 1)
            assert out.response.model_name == "lin"
        status, metadata = server.rest("GET", "/v2/models/lin")
        assert status == 200
        assert metadata["name"] == "lin"
        ports = (server.server.http_port, server.server.grpc_port)
        assert server.http_url == f"http://127.0.0.1:{ports[0]}"
        assert server.grpc_address == f"127.0.0.1:{ports[1]}"
    assert all(_refused(p) for p in ports)  # stopped when the block ends


def test_errors_come_back_as_call_errors() -> None:
    with serve_plugins_sync(AffinePlugin(), models=MODELS) as server:
        text = {"x": np.array(["a", "b"], dtype=object)}
        with pytest.raises(CallError) as rest:
            server.infer_rest("lin", text)
        assert (rest.value.status, rest.value.message) == (400, "input 'x' must be numeric")
        with pytest.raises(CallError) as grpc:
            server.infer_grpc("lin", text)
        assert grpc.value.status == "INVALID_ARGUMENT"
        assert "must be numeric" in grpc.value.message
        with pytest.raises(CallError) as missing:
            server.infer_rest("nope", {"x": np.ones(1)})
        assert missing.value.status == 404


def test_loads_installed_plugins_by_entry_point_name_and_nothing_else() -> None:
    # kernel-sklearn is installed in the dev environment; the echo built-in serves the model.
    with serve_plugins_sync("sklearn", models={"e": {"implementation": "echo"}}) as server:
        installed = [p.name for p in server.kernel.plugins.loaded if not p.builtin]
        assert installed == ["sklearn"]
        assert "sklearn" in server.kernel.registry.names()
        out = server.infer_grpc("e", {"s": np.array([b"hi"], dtype=object)})
        assert out["s"].tolist() == [b"hi"]
    with serve_plugins_sync(AffinePlugin(), models=MODELS) as server:
        assert [p.name for p in server.kernel.plugins.loaded if not p.builtin] == ["AffinePlugin-0"]
        assert "sklearn" not in server.kernel.registry.names()


def test_an_unknown_plugin_name_fails_loudly() -> None:
    with (
        pytest.raises(PluginLoadError, match="no-such-plugin: no installed plugin"),
        serve_plugins_sync("no-such-plugin"),
    ):
        pass


def test_a_model_that_fails_to_load_fails_unless_allowed() -> None:
    models = {**MODELS, "bad": {"implementation": "affine", "parameters": {"extra": {"broken": 1}}}}
    with (
        pytest.raises(KernelError, match=r"bad: .*weights missing"),
        serve_plugins_sync(AffinePlugin(), models=models),
    ):
        pass
    with serve_plugins_sync(AffinePlugin(), models=models, require_ready=False) as server:
        status, _ = server.rest("GET", "/v2/models/bad/ready")
        assert status != 200
        np.testing.assert_array_equal(server.infer_rest("lin", {"x": [1.0]})["y"], [3.0])


def test_repository_folder_with_model_files(tmp_path: Path) -> None:
    folder = tmp_path / "custom"
    folder.mkdir()
    (folder / "models.py").write_text(
        "import kernel\n"
        "class Negate(kernel.Runtime):\n"
        "    async def predict(self, request):\n"
        "        x = request.inputs[0].data\n"
        "        return kernel.InferenceResponse(model_name=self.name,\n"
        "            outputs=[kernel.output_from_numpy('neg', -x)])\n"
    )
    (folder / "model-settings.json").write_text(json.dumps({"implementation": "models.Negate"}))
    with serve_plugins_sync(AffinePlugin(), repository=tmp_path, models=MODELS) as server:
        out = server.infer_rest("custom", {"x": np.array([1, -2], dtype=np.int64)})
        assert out["neg"].tolist() == [-1, 2]
        assert server.infer_grpc("lin", {"x": [1.0]})["y"].tolist() == [3.0]
    assert (tmp_path / "lin" / "model-settings.json").is_file()  # written next to "custom"


@pytest.mark.anyio
async def test_async_form() -> None:
    async with serve_plugins(AffinePlugin(), models=MODELS) as server:
        rest = await server.infer_rest("lin", {"x": np.arange(3.0)})
        grpc = await server.infer_grpc("lin", {"x": np.arange(3.0)})
        np.testing.assert_array_equal(rest["y"], [1.0, 3.0, 5.0])
        np.testing.assert_array_equal(grpc["y"], rest["y"])
        assert server.grpc_url == f"grpc://127.0.0.1:{server.grpc_port}"
