"""One open stream on the agent side: its input queue and how it answers."""

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from threading import Event
from typing import Any

from ..streams import wire
from .clients import DirectClient

# Input frames held before the agent stops reading the client's connection: a client that
# sends faster than the container reads waits, instead of filling the agent's memory.
INPUT_FRAMES = 16
# What an eager iterator gives per thread hop.
EAGER_BATCH = 1024 * 1024


@dataclass
class StreamContext:
    writer: asyncio.StreamWriter
    args: dict
    input: asyncio.Queue = field(default_factory=lambda: asyncio.Queue(INPUT_FRAMES))
    # Set when the client goes away or the handler is done; threads feeding the stream stop.
    cancelled: Event = field(default_factory=Event)
    # Set when the client left with its detach keys: an exec it started goes on.
    detached: bool = False
    ready_sent: bool = False
    # Under which a client's own connection may be handed over ("" when none can be).
    key: str = ""
    # A client's connection handed over and not written to yet; then the one written to.
    offered: DirectClient | None = None
    client: DirectClient | None = None
    flushed: asyncio.Event = field(default_factory=asyncio.Event)
    # Output of several sources (an exec's stdout and stderr) switches over once.
    _switching: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def ready(self) -> None:
        """Tell the client the stream runs; handlers marked `ready_late` say it themselves."""
        if not self.ready_sent:
            self.ready_sent = True
            payload = json.dumps({"key": self.key}).encode() if self.key else b""
            await wire.send(self.writer, wire.frame(wire.READY, payload))

    def offer(self, client: DirectClient) -> bool:
        """Take a client's connection to write output to; False if one was taken already."""
        if self.offered is not None or self.client is not None or self.cancelled.is_set():
            return False
        self.offered = client
        return True

    async def direct(self) -> DirectClient | None:
        """The client's own connection once what went through the relay before has left it."""
        if self.offered is not None:
            async with self._switching:
                if self.offered is not None:
                    await wire.send(self.writer, wire.frame(wire.HANDED, b""))
                    await self.flushed.wait()
                    self.client, self.offered = self.offered, None
        return self.client

    async def data(self, data: bytes, fd: int = wire.STDOUT) -> None:
        """Send output; waits while the client is behind, which is the back-pressure."""
        client = await self.direct()
        for start in range(0, len(data), wire.MAX_PAYLOAD):
            piece = data[start : start + wire.MAX_PAYLOAD]
            if client is not None:
                await client.data(fd, piece)
            else:
                self.writer.write(wire.frame(fd, piece))
                await self.writer.drain()

    async def frame(self, frame: bytes) -> None:
        """Send a frame made elsewhere (header included), with the same back-pressure."""
        client = await self.direct()
        if client is not None:
            await client.frame(frame)
            return
        self.writer.write(frame)
        await self.writer.drain()

    def close_client(self) -> None:
        """Let go of a client's connection: the gateway closes it once the stream has ended."""
        for client in (self.offered, self.client):
            if client is not None:
                client.close()
        self.offered = self.client = None

    async def end(self, result: dict | None = None) -> None:
        self.close_client()
        await wire.send(self.writer, wire.control(wire.END, {"result": result}))

    async def error(self, status: int, message: str) -> None:
        failure = {"status": status, "message": message}
        await wire.send(self.writer, wire.control(wire.ERROR, failure))

    async def send_all(self, chunks: Iterator[bytes]) -> None:
        """Send every chunk a blocking iterator of file content yields."""
        async for chunk in self.each(lambda: chunks, eager=True):
            await self.data(chunk)

    async def each(
        self, produce: Callable[[], Iterator[Any]], eager: bool = False
    ) -> AsyncIterator[Any]:
        """The items of a blocking iterator, taken in a worker thread.

        `eager` says the iterator only reads what is there and never waits for something to
        happen (a file, not a followed log): its items are then taken a batch per thread hop,
        which is what a short answer such as `logs --tail 10` costs (thread hops were most of
        its time). Otherwise each item goes to the client as soon as it exists.
        """
        limit = EAGER_BATCH if eager else 1

        def start() -> tuple[Iterator[Any], list[Any], bool]:
            items = iter(produce())
            return (items, *_take(items, limit))

        # The iterator is made and its first items taken in one hop.
        items, batch, done = await asyncio.to_thread(start)
        while True:
            for item in batch:
                yield item
            if done or self.cancelled.is_set():
                return
            batch, done = await asyncio.to_thread(_take, items, limit)


def _take(items: Iterator[Any], limit: int) -> tuple[list[Any], bool]:
    """Up to `limit` bytes' worth of items (at least one), and whether the iterator ended."""
    batch: list[Any] = []
    size = 0
    for item in items:
        batch.append(item)
        size += _size(item)
        if size >= limit:
            return batch, False
    return batch, True


def _size(item: Any) -> int:
    if isinstance(item, bytes | bytearray | memoryview):
        return len(item)
    if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], bytes):
        return len(item[1])
    return 1
