"""Test helpers for plugin authors: a real kernel with exactly the given plugins, called through
the real REST and gRPC transports on free loopback ports.

::

    import numpy as np
    from kernel.testing import serve_plugins_sync

    import kernel_myplugin

    def test_doubles() -> None:
        models = {"m": {"implementation": "myplugin"}}
        with serve_plugins_sync(kernel_myplugin, models=models) as server:
            out = server.infer_rest("m", {"x": np.array([[1.0, 2.0]])})
            assert out["y"].tolist() == [[2.0, 4.0]]

``serve_plugins`` is the ``async with`` form for async tests (``@pytest.mark.anyio``: anyio
comes with the kernel). A plugin is a pluggy plugin object (a module or an instance with
``@kernel.hookimpl`` functions, installed or not) or the entry-point name of an installed one.
Nothing else loads but the kernel's built-ins: the test sees the same kernel whatever else is
installed. The clients use only the kernel's own dependencies (``http.client`` and grpclib).

``entry_point``, ``registered_runtimes`` and ``imported_with`` (from ``kernel.plugin_checks``)
check the plugin's boundary without a server.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import http.client
import logging
import tempfile
import threading
from collections.abc import AsyncIterator, Coroutine, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec
import numpy as np
import numpy.typing as npt

from kernel.errors import KernelError, PluginLoadError
from kernel.lifecycle import Kernel
from kernel.models import ModelState
from kernel.plugin_checks import entry_point, imported_with, registered_runtimes
from kernel.settings import ServerSettings
from protocol.messages import InferenceRequest, InferenceResponse, RequestInput
from protocol.tensors import input_from_numpy

if TYPE_CHECKING:
    from grpclib.client import Channel

__all__ = [
    "CallError",
    "Outputs",
    "TestServer",
    "TestServerSync",
    "build_request",
    "entry_point",
    "imported_with",
    "registered_runtimes",
    "serve_plugins",
    "serve_plugins_sync",
]

T = TypeVar("T")
Inputs = InferenceRequest | Mapping[str, npt.ArrayLike] | list[RequestInput]

logger = logging.getLogger("kernel.testing")


class CallError(Exception):
    """A call the server answered with an error: ``status`` is the HTTP status (REST) or the
    gRPC status name (``"INVALID_ARGUMENT"``), ``message`` the server's error text."""

    def __init__(self, status: int | str, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


class Outputs(dict[str, Any]):
    """A response's outputs by name (``data`` as numpy arrays); ``.response`` is the whole
    ``InferenceResponse`` (parameters, model name and version, id)."""

    def __init__(self, response: InferenceResponse) -> None:
        super().__init__((o.name, o.data) for o in response.outputs)
        self.response = response


def build_request(inputs: Inputs, parameters: Mapping[str, Any] | None = None) -> InferenceRequest:
    """An ``InferenceRequest`` from a request, a list of inputs or ``{name: array-like}``."""
    if isinstance(inputs, InferenceRequest):
        request = inputs
    elif isinstance(inputs, list):
        request = InferenceRequest(inputs=inputs)
    else:
        request = InferenceRequest(
            inputs=[input_from_numpy(name, np.asarray(v)) for name, v in inputs.items()]
        )
    if parameters:
        request = msgspec.structs.replace(request, parameters=dict(parameters))
    return request


class TestServer:
    """A started kernel behind REST (``http_url``) and gRPC (``grpc_address``) on loopback.

    The ``infer_*`` methods return ``Outputs`` and raise ``CallError`` when the server answers
    an error.
    """

    __test__ = False  # not a pytest test class, despite the name

    def __init__(self, kernel: Kernel, host: str, http_port: int, grpc_port: int) -> None:
        self.kernel = kernel
        self.host = host
        self.http_port = http_port
        self.grpc_port = grpc_port
        self._channel: Channel | None = None

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self.http_port}"

    @property
    def grpc_address(self) -> str:
        """``host:port``, as gRPC clients (tritonclient, grpcio) take it."""
        return f"{self.host}:{self.grpc_port}"

    @property
    def grpc_url(self) -> str:
        return f"grpc://{self.grpc_address}"

    # --- REST --------------------------------------------------------------------------------

    def _http(
        self, method: str, path: str, body: bytes | None, headers: Mapping[str, str]
    ) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection(self.host, self.http_port, timeout=60)
        try:
            conn.request(method, path, body=body, headers=dict(headers))
            answer = conn.getresponse()
            return answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read()
        finally:
            conn.close()

    async def rest(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """Call any REST path (``"GET", "/v2/models/m"``); ``(status, decoded JSON or None)``.

        ``body`` is JSON-encoded unless it is already ``bytes``.
        """
        data = body if isinstance(body, bytes) or body is None else msgspec.json.encode(body)
        headers = {"Content-Type": "application/json"} if data is not None else {}
        status, _, raw = await asyncio.to_thread(self._http, method, path, data, headers)
        return status, msgspec.json.decode(raw) if raw else None

    async def infer_rest(
        self,
        model: str,
        inputs: Inputs,
        *,
        version: str | None = None,
        parameters: Mapping[str, Any] | None = None,
        binary: bool = False,
    ) -> Outputs:
        """One inference over REST: JSON, or the binary tensor extension with ``binary``."""
        from protocol.rest import decode_infer_response, encode_infer_request

        request = build_request(inputs, parameters)
        if binary:
            params = dict(request.parameters or {})
            params.setdefault("binary_data_output", True)
            request = msgspec.structs.replace(request, parameters=params)
        body, header_length = encode_infer_request(request, binary=binary)
        headers = {"Content-Type": "application/json"}
        if header_length is not None:
            headers["Content-Type"] = "application/octet-stream"
            headers["Inference-Header-Content-Length"] = str(header_length)
        path = f"/v2/models/{model}" + (f"/versions/{version}" if version else "") + "/infer"
        status, answer_headers, raw = await asyncio.to_thread(
            self._http, "POST", path, body, headers
        )
        if status != 200:
            raise CallError(status, _error_text(raw))
        length = answer_headers.get("inference-header-content-length")
        return Outputs(decode_infer_response(raw, int(length) if length is not None else None))

    # --- gRPC --------------------------------------------------------------------------------

    async def infer_grpc(
        self,
        model: str,
        inputs: Inputs,
        *,
        version: str | None = None,
        parameters: Mapping[str, Any] | None = None,
    ) -> Outputs:
        """One ``ModelInfer`` call over gRPC (inputs as raw contents)."""
        from grpclib.client import Channel
        from grpclib.exceptions import GRPCError

        from protocol._proto.inference import GrpcInferenceServiceStub
        from protocol.grpc import infer_request_to_proto, infer_response_from_proto

        if self._channel is None:
            self._channel = Channel(self.host, self.grpc_port)
        message = infer_request_to_proto(build_request(inputs, parameters), model, version or "")
        try:
            answer = await GrpcInferenceServiceStub(self._channel).model_infer(message)
        except GRPCError as exc:
            raise CallError(exc.status.name, exc.message or "") from None
        return Outputs(infer_response_from_proto(answer))

    def close(self) -> None:
        if self._channel is not None:
            self._channel.close()
            self._channel = None


def _error_text(raw: bytes) -> str:
    try:
        return str(msgspec.json.decode(raw)["error"])
    except Exception:
        return raw.decode(errors="replace")


def _plugin_list(plugins: tuple[object, ...]) -> tuple[list[tuple[str, object]], list[str]]:
    objects: list[tuple[str, object]] = []
    names: list[str] = []
    for i, plugin in enumerate(plugins):
        if isinstance(plugin, str):
            names.append(plugin)
        else:
            label = getattr(plugin, "__name__", None) or type(plugin).__name__
            objects.append((f"{label}-{i}", plugin))
    return objects, names


def _write_models(root: Path, models: Mapping[str, Mapping[str, Any]]) -> None:
    for name, settings in models.items():
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "model-settings.json").write_bytes(
            msgspec.json.encode({"name": name, **settings})
        )


def _check_plugins(kernel: Kernel, names: list[str]) -> None:
    """Fail loudly: a test asked for these plugins, so each must have loaded."""
    plugins = kernel.plugins
    problems = [f"{f.name}: {f.error}" for f in plugins.failed]
    loaded = {p.name for p in plugins.loaded} | {p.distribution for p in plugins.loaded}
    problems += [f"{n}: no installed plugin of that name" for n in names if n not in loaded]
    if problems:
        raise PluginLoadError("plugins did not load: " + "; ".join(problems))


@contextlib.asynccontextmanager
async def serve_plugins(
    *plugins: object,
    models: Mapping[str, Mapping[str, Any]] | None = None,
    repository: str | Path | None = None,
    require_ready: bool = True,
    **settings: Any,
) -> AsyncIterator[TestServer]:
    """Start a kernel with the built-ins and exactly ``plugins``, serve it over REST and gRPC on
    free ``127.0.0.1`` ports, and yield a ``TestServer``; everything stops afterwards.

    ``plugins``: pluggy plugin objects and/or entry-point names of installed plugins.
    ``models``: ``{name: model-settings dict}``, written as folders into ``repository`` (a
    temporary folder when not given; give one to serve folders holding model files).
    ``require_ready``: raise ``KernelError`` with the reasons when a model fails to load (pass
    ``False`` to test load failures). ``settings``: ``ServerSettings`` fields.
    """
    from kernel.server import listen

    objects, names = _plugin_list(plugins)
    with contextlib.ExitStack() as stack:
        if repository is None:
            repository = stack.enter_context(tempfile.TemporaryDirectory(prefix="kernel-test-"))
        root = Path(repository)
        await asyncio.to_thread(_write_models, root, models or {})
        http_sock = listen("127.0.0.1", 0)
        grpc_sock = stack.enter_context(listen("127.0.0.1", 0))
        http_port = http_sock.getsockname()[1]
        grpc_port = grpc_sock.getsockname()[1]
        options: dict[str, Any] = {"graceful_timeout": 1.0, "executor_threads": 2, **settings}
        server_settings = ServerSettings(
            host="127.0.0.1",
            http_port=http_port,
            grpc_port=grpc_port,
            model_repository_root=str(root),
            **options,
        )
        environ = {"KERNEL_PLUGINS": ",".join(names)}
        kernel = Kernel(server_settings, plugins=objects, autoload=bool(names), environ=environ)
        stop = asyncio.Event()
        http_task: asyncio.Task[None] | None = None
        grpc_server = None
        server = TestServer(kernel, "127.0.0.1", http_port, grpc_port)
        try:
            await kernel.start()
            _check_plugins(kernel, names)
            await kernel.wait_loaded()
            if require_ready:
                failed = [
                    f"{e.name}: {e.reason}"
                    for e in await kernel.repository_index()
                    if e.state != ModelState.READY.value
                ]
                if failed:
                    raise KernelError("models failed to load: " + "; ".join(failed))
            from kernel.grpc import build_server

            grpc_server = build_server(kernel, kernel, server_settings)
            await grpc_server.start(sock=grpc_sock)
            from kernel.http_servers import serve_http
            from kernel.rest.app import build_app

            app = build_app(kernel, kernel, server_settings)
            http_task = asyncio.create_task(serve_http(app, http_sock, server_settings, stop))
            await _wait_listening(server, http_task)
            yield server
        finally:
            server.close()
            stop.set()
            if http_task is not None:
                await http_task
            http_sock.close()
            if grpc_server is not None:
                grpc_server.close()
                await grpc_server.wait_closed()
            await kernel.stop()


async def _wait_listening(server: TestServer, task: asyncio.Task[None]) -> None:
    """hypercorn accepts on the socket at once, but answers only once its loop runs: wait for
    the first answer so that no test races the start-up."""
    for _ in range(200):
        if task.done():
            task.result()  # raises what hypercorn died of
            raise KernelError("the REST server stopped at start-up")
        with contextlib.suppress(OSError):
            status, _ = await server.rest("GET", "/v2/health/live")
            if status == 200:
                return
        await asyncio.sleep(0.05)
    raise KernelError("the REST server did not answer within 10 s")


class TestServerSync:
    """``TestServer`` for synchronous tests: the server runs in a thread with its own event
    loop, and each method waits for the answer."""

    __test__ = False

    def __init__(self, server: TestServer, loop: asyncio.AbstractEventLoop) -> None:
        self.server = server
        self.kernel = server.kernel
        self.http_url = server.http_url
        self.grpc_address = server.grpc_address
        self.grpc_url = server.grpc_url
        self._loop = loop

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=120)

    def rest(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """See ``TestServer.rest``."""
        return self._run(self.server.rest(method, path, body))

    def infer_rest(self, model: str, inputs: Inputs, **options: Any) -> Outputs:
        """See ``TestServer.infer_rest``."""
        return self._run(self.server.infer_rest(model, inputs, **options))

    def infer_grpc(self, model: str, inputs: Inputs, **options: Any) -> Outputs:
        """See ``TestServer.infer_grpc``."""
        return self._run(self.server.infer_grpc(model, inputs, **options))


@contextlib.contextmanager
def serve_plugins_sync(*plugins: object, **options: Any) -> Iterator[TestServerSync]:
    """``serve_plugins`` for synchronous tests (same arguments), served from a thread.

    A start-up failure is raised here; one while stopping is raised when the block ends.
    """
    loop = asyncio.new_event_loop()
    started: concurrent.futures.Future[TestServer] = concurrent.futures.Future()
    stopped: list[BaseException] = []
    stop = asyncio.Event()

    async def main() -> None:
        try:
            async with serve_plugins(*plugins, **options) as server:
                started.set_result(server)
                await stop.wait()
        except BaseException as exc:  # handed to the test's thread
            if started.done():
                stopped.append(exc)
            else:
                started.set_exception(exc)

    thread = threading.Thread(
        target=loop.run_until_complete, args=(main(),), name="kernel-test", daemon=True
    )
    thread.start()
    try:
        yield TestServerSync(started.result(timeout=300), loop)
    finally:
        if thread.is_alive():
            loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=60)
        if not thread.is_alive():
            loop.close()
    if stopped:
        raise stopped[0]
