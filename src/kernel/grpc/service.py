"""``inference.GRPCInferenceService``: each RPC calls the kernel's DataPlane / ControlPlane."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any, Final, TypeVar

import msgspec
from grpclib.const import Cardinality, Handler
from grpclib.metadata import Deadline
from grpclib.server import Stream

from kernel.api import ControlPlane, DataPlane
from kernel.errors import BadRequest, InferenceError, ModelNotFound, PayloadTooLarge
from kernel.grpc.errors import error_message, log, to_grpc_error
from kernel.workers.deadline import transport_deadline
from protocol.errors import ProtocolError
from protocol.grpc import (
    ModelInferCall,
    config_to_proto,
    encode_infer_response,
    encode_stream_response,
    index_response_to_proto,
    load_request_from_proto,
    metadata_to_proto,
    pb,
    read_model_infer_request,
    server_metadata_to_proto,
    unload_request_from_proto,
)

__all__ = ["InferenceService", "recv"]

SERVICE: Final = "inference.GRPCInferenceService"

#: Requests of one ModelStreamInfer call that may run at once; past this the reader waits, so a
#: client that never reads its answers cannot make the server buffer without bound.
STREAM_WINDOW: Final = 64

_Func = Callable[[Stream[Any, Any]], Awaitable[None]]


T = TypeVar("T")


async def recv(stream: Stream[Any, Any], kind: type[T]) -> T:
    """The one request message of a unary call, as ``kind``."""
    message = await stream.recv_message()
    if not isinstance(message, kind):
        raise ProtocolError("the call carried no request message")
    return message


def _version(version: str) -> str | None:
    return version or None


class InferenceService:
    """The servable grpclib registers: ``__mapping__`` names one handler per RPC."""

    def __init__(self, data: DataPlane, control: ControlPlane) -> None:
        self._data = data
        self._control = control

    def __mapping__(self) -> dict[str, Handler]:
        unary = Cardinality.UNARY_UNARY
        rpcs: list[tuple[str, _Func, Cardinality, type[Any], type[Any]]] = [
            ("ServerLive", self._server_live, unary, pb.ServerLiveRequest, pb.ServerLiveResponse),
            (
                "ServerReady",
                self._server_ready,
                unary,
                pb.ServerReadyRequest,
                pb.ServerReadyResponse,
            ),
            ("ModelReady", self._model_ready, unary, pb.ModelReadyRequest, pb.ModelReadyResponse),
            (
                "ServerMetadata",
                self._server_metadata,
                unary,
                pb.ServerMetadataRequest,
                pb.ServerMetadataResponse,
            ),
            (
                "ModelMetadata",
                self._model_metadata,
                unary,
                pb.ModelMetadataRequest,
                pb.ModelMetadataResponse,
            ),
            ("ModelInfer", self._model_infer, unary, bytes, bytes),
            ("ModelStreamInfer", self._stream_infer, Cardinality.STREAM_STREAM, bytes, bytes),
            (
                "ModelConfig",
                self._model_config,
                unary,
                pb.ModelConfigRequest,
                pb.ModelConfigResponse,
            ),
            (
                "RepositoryIndex",
                self._repository_index,
                unary,
                pb.RepositoryIndexRequest,
                pb.RepositoryIndexResponse,
            ),
            (
                "RepositoryModelLoad",
                self._load,
                unary,
                pb.RepositoryModelLoadRequest,
                pb.RepositoryModelLoadResponse,
            ),
            (
                "RepositoryModelUnload",
                self._unload,
                unary,
                pb.RepositoryModelUnloadRequest,
                pb.RepositoryModelUnloadResponse,
            ),
        ]
        return {
            f"/{SERVICE}/{name}": Handler(self._guard(name, func), kind, request, reply)
            for name, func, kind, request, reply in rpcs
        }

    @staticmethod
    def _guard(name: str, func: _Func) -> _Func:
        """Wrap a handler so every exception leaves as a gRPC status from the one table."""

        async def handler(stream: Stream[Any, Any]) -> None:
            try:
                await func(stream)
            except Exception as exc:
                raise to_grpc_error(exc, name) from None

        return handler

    # --- health and metadata -------------------------------------------------------------------

    async def _server_live(self, stream: Stream[Any, Any]) -> None:
        await stream.recv_message()
        await stream.send_message(pb.ServerLiveResponse(live=self._data.live()))

    async def _server_ready(self, stream: Stream[Any, Any]) -> None:
        await stream.recv_message()
        await stream.send_message(pb.ServerReadyResponse(ready=self._data.ready()))

    async def _model_ready(self, stream: Stream[Any, Any]) -> None:
        request = await recv(stream, pb.ModelReadyRequest)
        try:
            ready = self._data.model_ready(request.name, _version(request.version))
        except ModelNotFound:
            # Triton answers "not ready" for an unknown model; tritonclient's is_model_ready
            # then returns False instead of raising.
            ready = False
        await stream.send_message(pb.ModelReadyResponse(ready=ready))

    async def _server_metadata(self, stream: Stream[Any, Any]) -> None:
        await stream.recv_message()
        await stream.send_message(server_metadata_to_proto(self._data.server_metadata()))

    async def _model_metadata(self, stream: Stream[Any, Any]) -> None:
        request = await recv(stream, pb.ModelMetadataRequest)
        metadata = self._data.model_metadata(request.name, _version(request.version))
        await stream.send_message(metadata_to_proto(metadata))

    async def _model_config(self, stream: Stream[Any, Any]) -> None:
        request = await recv(stream, pb.ModelConfigRequest)
        config = self._data.model_config(request.name, _version(request.version))
        await stream.send_message(pb.ModelConfigResponse(config=config_to_proto(config)))

    # --- inference -----------------------------------------------------------------------------

    async def _infer(self, call: ModelInferCall, deadline: Deadline | None = None) -> bytes:
        """Run one decoded request; the encoded ModelInferResponse. The client's deadline
        (``grpc-timeout``) bounds the request, so a worker running it past then is stopped."""
        version = _version(call.model_version)
        if deadline is None:  # the common case: no context manager to enter
            response = await self._data.infer(
                call.model_name, version, call.request, protocol="grpc"
            )
        else:
            with transport_deadline(call.request, deadline.time_remaining()):
                response = await self._data.infer(
                    call.model_name, version, call.request, protocol="grpc"
                )
        request_id = call.request.id
        if isinstance(request_id, str) and response.id != request_id:
            # Streaming clients match answers to requests by id; never lose it.
            response = msgspec.structs.replace(response, id=request_id)
        try:
            return encode_infer_response(response)
        except ProtocolError as exc:
            # The runtime built an output that cannot be sent: a server fault, not the client's.
            message = f"model {call.model_name!r} returned an output that cannot be sent: {exc}"
            log.error("%s", message)
            raise InferenceError(message) from exc

    async def _model_infer(self, stream: Stream[Any, Any]) -> None:
        data = await recv(stream, bytes)
        call = read_model_infer_request(data)
        if not call.model_name:
            raise BadRequest("model_name is required")
        await stream.send_message(await self._infer(call, stream.deadline))

    async def _stream_one(self, data: bytes, deadline: Deadline | None) -> bytes:
        """One ModelStreamInferResponse; a failure becomes its ``error_message``."""
        call: ModelInferCall | None = None
        try:
            call = read_model_infer_request(data)
            if not call.model_name:
                raise BadRequest("model_name is required")
            return encode_stream_response(await self._infer(call, deadline))
        except Exception as exc:
            request_id = call.request.id if call is not None else ""
            return encode_stream_response(
                error=error_message(exc, "ModelStreamInfer"),
                request_id=request_id if isinstance(request_id, str) else "",
                model_name=call.model_name if call is not None else "",
            )

    async def _stream_infer(self, stream: Stream[Any, Any]) -> None:
        """Requests run concurrently; answers go back in request order, one per request."""
        window = asyncio.Semaphore(STREAM_WINDOW)
        pending: asyncio.Queue[asyncio.Task[bytes] | None] = asyncio.Queue()
        tasks: set[asyncio.Task[bytes]] = set()

        async def read() -> None:
            try:
                while True:
                    await window.acquire()
                    try:
                        data = await stream.recv_message()
                    except (PayloadTooLarge, ProtocolError) as exc:
                        # The message was read whole: answer it and keep the stream going.
                        message = error_message(exc, "ModelStreamInfer")
                        task = asyncio.ensure_future(_done(encode_stream_response(error=message)))
                    else:
                        if data is None:
                            return
                        task = asyncio.ensure_future(self._stream_one(data, stream.deadline))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                    pending.put_nowait(task)
            finally:
                pending.put_nowait(None)

        reader = asyncio.ensure_future(read())
        try:
            while (task := await pending.get()) is not None:
                await stream.send_message(await task)
                window.release()
            await reader
        finally:
            reader.cancel()
            for task in tasks:
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader

    # --- model repository ----------------------------------------------------------------------

    async def _repository_index(self, stream: Stream[Any, Any]) -> None:
        request = await recv(stream, pb.RepositoryIndexRequest)
        entries = await self._control.repository_index(ready_only=request.ready)
        await stream.send_message(index_response_to_proto(entries))

    async def _load(self, stream: Stream[Any, Any]) -> None:
        request = await recv(stream, pb.RepositoryModelLoadRequest)
        name, load = load_request_from_proto(request)
        if isinstance(load.parameters, dict):
            overrides = [k for k in load.parameters if k == "config" or k.startswith("file:")]
            if overrides:
                raise BadRequest(
                    f"load parameters {overrides} are not supported: kernel loads models from "
                    "their folder in the repository"
                )
        await self._control.load_model(name)
        await stream.send_message(pb.RepositoryModelLoadResponse(model_name=name, loaded=True))

    async def _unload(self, stream: Stream[Any, Any]) -> None:
        request = await recv(stream, pb.RepositoryModelUnloadRequest)
        name, _unload = unload_request_from_proto(request)  # unload_dependents: nothing depends
        await self._control.unload_model(name)
        await stream.send_message(pb.RepositoryModelUnloadResponse(model_name=name, unloaded=True))


async def _done(value: bytes) -> bytes:
    return value
