"""One open stream on the agent side: its input queue and how it answers."""

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from threading import Event
from typing import Any

from ..streams import wire

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

    async def ready(self) -> None:
        """Tell the client the stream runs; handlers marked `ready_late` say it themselves."""
        if not self.ready_sent:
            self.ready_sent = True
            await wire.send(self.writer, wire.frame(wire.READY, b""))

    async def data(self, data: bytes, fd: int = wire.STDOUT) -> None:
        """Send output; waits while the client is behind, which is the back-pressure."""
        for start in range(0, len(data), wire.MAX_PAYLOAD):
            self.writer.write(wire.frame(fd, data[start : start + wire.MAX_PAYLOAD]))
            await self.writer.drain()

    async def frame(self, frame: bytes) -> None:
        """Send a frame made elsewhere (header included), with the same back-pressure."""
        self.writer.write(frame)
        await self.writer.drain()

    async def end(self, result: dict | None = None) -> None:
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
        items = await asyncio.to_thread(lambda: iter(produce()))
        limit = EAGER_BATCH if eager else 1
        while not self.cancelled.is_set():
            batch, done = await asyncio.to_thread(_take, items, limit)
            for item in batch:
                yield item
            if done:
                return


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
