"""One open stream on the agent side: its input queue and how it answers."""

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from threading import Event
from typing import Any

from ..streams.client import CHUNK, send_retrying


@dataclass
class StreamContext:
    layer: Any
    reply: str
    args: dict
    input: asyncio.Queue = field(default_factory=asyncio.Queue)
    cancelled: Event = field(default_factory=Event)

    async def data(self, data: bytes, fd: int = 1) -> None:
        for start in range(0, len(data), CHUNK):
            await send_retrying(
                self.layer,
                self.reply,
                {"type": "stream.data", "fd": fd, "data": data[start : start + CHUNK]},
            )

    async def end(self, result: dict | None = None) -> None:
        await send_retrying(self.layer, self.reply, {"type": "stream.end", "result": result})

    async def error(self, status: int, message: str) -> None:
        await send_retrying(
            self.layer, self.reply, {"type": "stream.error", "status": status, "message": message}
        )

    async def send_all(self, chunks: Iterator[bytes]) -> None:
        """Send every chunk a blocking iterator yields (read in a thread)."""
        async for chunk in await self.each(lambda: chunks):
            await self.data(chunk)

    async def each(self, produce: Callable[[], Iterator[Any]]) -> "AsyncThreadIterator":
        return AsyncThreadIterator(produce, self.cancelled)


class AsyncThreadIterator:
    """Runs a blocking iterator in a thread and hands its items to the event loop."""

    _DONE = object()

    def __init__(self, produce: Callable[[], Iterator[Any]], stop: Event):
        self.queue: asyncio.Queue = asyncio.Queue(maxsize=256)
        self.stop = stop
        loop = asyncio.get_running_loop()
        self.task = loop.run_in_executor(None, self._run, produce, loop)

    def _run(self, produce, loop) -> None:
        def put(item) -> None:
            asyncio.run_coroutine_threadsafe(self.queue.put(item), loop).result()

        try:
            for item in produce():
                if self.stop.is_set():
                    break
                put(item)
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
