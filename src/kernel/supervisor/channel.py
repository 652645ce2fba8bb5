"""A request/answer channel over one stream socket, usable from both ends at once.

Frames are msgpack ``messages.Frame`` values behind a 4-byte big-endian length. Requests that
arrive are handled each in its own task, so a process can answer the supervisor (a fan-out of
the very load it asked for) while its own request is waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Awaitable, Callable

import msgspec

from kernel.supervisor.messages import Body, Frame, result_of

__all__ = ["Channel", "ChannelClosed", "Handler"]

logger = logging.getLogger("kernel.supervisor")

#: Answers a request (or a notification, whose answer is dropped).
Handler = Callable[[Body], Awaitable[Body | None]]

_HEADER = 4


class ChannelClosed(ConnectionError):
    """The other end went away: the request has no answer."""


class Channel:
    """One end of a control channel; call ``run()`` in a task to start reading."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, handler: Handler
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._handler = handler
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Body]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._encoder = msgspec.msgpack.Encoder()
        self._decoder = msgspec.msgpack.Decoder(Frame)
        self.closed = False

    def _send(self, frame: Frame) -> None:
        if self.closed:
            raise ChannelClosed("the control channel is closed")
        payload = self._encoder.encode(frame)
        self._writer.write(len(payload).to_bytes(_HEADER, "big") + payload)

    async def request(self, body: Body) -> Body:
        """Send ``body`` and wait for its answer; ``ChannelClosed`` if the other end goes."""
        frame_id = next(self._ids)
        future: asyncio.Future[Body] = asyncio.get_running_loop().create_future()
        self._pending[frame_id] = future
        try:
            self._send(Frame(frame_id, False, body))
            await self._writer.drain()
            return await future
        finally:
            self._pending.pop(frame_id, None)

    def notify(self, body: Body) -> None:
        """Send ``body`` expecting no answer; dropped silently once the channel is closed."""
        if not self.closed:
            self._send(Frame(0, False, body))

    async def run(self) -> None:
        """Read frames until the other end closes, then fail every pending request."""
        try:
            while True:
                header = await self._reader.readexactly(_HEADER)
                frame = self._decoder.decode(
                    await self._reader.readexactly(int.from_bytes(header, "big"))
                )
                if frame.reply:
                    future = self._pending.get(frame.id)
                    if future is not None and not future.done():
                        future.set_result(frame.body)
                else:
                    task = asyncio.create_task(self._answer(frame))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        except msgspec.DecodeError:
            logger.exception("control channel: undecodable frame; closing")
        finally:
            self.close()

    async def _answer(self, frame: Frame) -> None:
        answer: Body | None
        try:
            answer = await self._handler(frame.body)
        except Exception as exc:
            # The asker must not wait forever: it gets the error as the answer.
            logger.exception("control channel: handling %s failed", type(frame.body).__name__)
            answer = result_of(exc)
        if frame.id and answer is not None and not self.closed:
            with contextlib.suppress(ConnectionError):
                self._send(Frame(frame.id, True, answer))
                await self._writer.drain()

    def close(self) -> None:
        """Close the socket and fail the requests still waiting for an answer."""
        if self.closed:
            return
        self.closed = True
        self._writer.close()
        for future in self._pending.values():
            if not future.done():
                future.set_exception(ChannelClosed("the other process went away"))
