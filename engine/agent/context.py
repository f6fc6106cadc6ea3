"""One open stream on the agent side: its input queue and how it answers."""

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from threading import Event
from typing import Any

from ..streams import wire

# Input frames held before the agent stops reading the client's connection: a client that
# sends faster than the container reads waits, instead of filling the agent's memory.
INPUT_FRAMES = 16
# How often a producer thread waiting for the loop checks whether its stream was cancelled.
_STOP_POLL = 0.5


@dataclass
class StreamContext:
    writer: asyncio.StreamWriter
    args: dict
    input: asyncio.Queue = field(default_factory=lambda: asyncio.Queue(INPUT_FRAMES))
    # Set when the client goes away or the handler is done; threads feeding the stream stop.
    cancelled: Event = field(default_factory=Event)
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
        """Send every chunk a blocking iterator yields (read in a thread)."""
        async for chunk in await self.each(lambda: chunks):
            await self.data(chunk)

    async def each(self, produce: Callable[[], Iterator[Any]]) -> "AsyncThreadIterator":
        return AsyncThreadIterator(produce, self.cancelled)


class AsyncThreadIterator:
    """Runs a blocking iterator in a thread and hands its items to the event loop.

    The queue is small: the thread waits for the loop, and so for the client.
    """

    _DONE = object()

    def __init__(self, produce: Callable[[], Iterator[Any]], stop: Event):
        self.queue: asyncio.Queue = asyncio.Queue(maxsize=4)
        self.stop = stop
        loop = asyncio.get_running_loop()
        self.task = loop.run_in_executor(None, self._run, produce, loop)

    def _run(self, produce, loop) -> None:
        def put(item) -> bool:
            """Hand `item` over; False once the stream is cancelled (nobody takes it)."""
            handed = asyncio.run_coroutine_threadsafe(self.queue.put(item), loop)
            while not self.stop.is_set():
                try:
                    handed.result(timeout=_STOP_POLL)
                    return True
                except TimeoutError:
                    continue
            handed.cancel()
            return False

        try:
            for item in produce():
                if self.stop.is_set() or not put(item):
                    return
        except Exception as e:  # handed to the loop, which re-raises it in the stream
            put(e)
        finally:
            put(self._DONE)

    def __aiter__(self):
        return self

    async def __anext__(self):
        item = await self.queue.get()
        if item is self._DONE:
            raise StopAsyncIteration
        if isinstance(item, Exception):
            raise item
        return item
