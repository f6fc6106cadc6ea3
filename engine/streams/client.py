"""The API side of the relay: open a stream on a node's agent and talk to it."""

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

from channels.exceptions import ChannelFull
from channels.layers import get_channel_layer

from ..errors import ApiError
from . import agent_channel
from .frames import frame

READY_TIMEOUT = 10.0
CHUNK = 64 * 1024


class StreamError(ApiError):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


async def send_retrying(layer, channel: str, message: dict) -> None:
    """Wait for room instead of dropping data when the reader is slow."""
    while True:
        try:
            await layer.send(channel, message)
            return
        except ChannelFull:
            await asyncio.sleep(0.01)


class Stream:
    def __init__(self, node: str, kind: str, args: dict):
        self.node, self.kind, self.args = node, kind, args
        self.layer = get_channel_layer()
        self.reply = ""
        self.input = ""
        self.result: dict = {}
        self._closed = False

    async def open(self) -> "Stream":
        self.reply = await self.layer.new_channel()
        await self.layer.send(
            agent_channel(self.node),
            {
                "type": "stream.open",
                "stream": uuid.uuid4().hex,
                "reply": self.reply,
                "kind": self.kind,
                "args": self.args,
            },
        )
        try:
            message = await asyncio.wait_for(self.layer.receive(self.reply), READY_TIMEOUT)
        except TimeoutError:
            raise StreamError(503, f"the agent of node {self.node} is not answering") from None
        if message["type"] == "stream.error":
            raise StreamError(message.get("status", 500), message["message"])
        self.input = message.get("input", "")
        return self

    async def messages(self) -> AsyncIterator[dict]:
        """`stream.data` messages until the agent ends the stream."""
        while not self._closed:
            message = await self.layer.receive(self.reply)
            kind = message["type"]
            if kind == "stream.data":
                yield message
            elif kind == "stream.end":
                self.result = message.get("result") or {}
                self._closed = True
            elif kind == "stream.error":
                self._closed = True
                raise StreamError(message.get("status", 500), message["message"])

    async def data(self) -> AsyncIterator[bytes]:
        """The stream's bytes, for a response body; a client that goes away cancels it."""
        try:
            async for message in self.messages():
                yield message["data"]
        finally:
            await self.cancel()

    async def send(self, message: dict) -> None:
        if self.input:
            await send_retrying(self.layer, self.input, message)

    async def write(self, data: bytes) -> None:
        for start in range(0, len(data), CHUNK):
            await self.send({"type": "stream.input", "data": data[start : start + CHUNK]})

    async def eof(self) -> None:
        await self.send({"type": "stream.eof"})

    async def cancel(self) -> None:
        if not self._closed:
            self._closed = True
            await self.send({"type": "stream.cancel"})


async def run_hijacked(
    spec: dict, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    """Relay a hijacked connection (attach, exec start) to the agent until the stream ends."""
    stream = Stream(spec["node"], spec["kind"], spec["args"])
    try:
        await stream.open()
    except StreamError as e:
        writer.write(frame(2, f"Error: {e.message}\n".encode()) if not spec.get("tty") else b"")
        await writer.drain()
        return
    pump = asyncio.create_task(_pump_input(stream, reader)) if spec.get("stdin") else None
    tty = spec.get("tty", False)
    try:
        async for message in stream.messages():
            data = message["data"]
            writer.write(data if tty else frame(message.get("fd", 1), data))
            await writer.drain()
    except (ConnectionError, StreamError):
        pass
    finally:
        await stream.cancel()
        if pump:
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await pump


async def _pump_input(stream: Stream, reader: asyncio.StreamReader) -> None:
    while True:
        data = await reader.read(CHUNK)
        if not data:
            await stream.eof()
            return
        await stream.write(data)
