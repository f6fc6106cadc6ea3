"""Output of a stream gathered into fewer, bigger websocket messages, with bounded memory.

A container printing flat out reaches the web process as a frame per read on the node; sent
on one by one, every frame would cost the browser a message, a JSON parse and a redraw. A
`Batches` holds what arrived since the last message and hands it over at most once per
`interval`, or sooner once `limit` bytes wait. While that much waits, `put` does not return:
the stream is not read, so the agent, and the log reader behind it, wait for the browser.
"""

import asyncio
import codecs
import contextlib
import itertools
import math

Chunk = tuple[int, bytes]


class Batches:
    """Chunks of (fd, bytes) from one producer, taken in batches by one consumer."""

    def __init__(self, limit: int, interval: float) -> None:
        self.limit, self.interval = limit, interval
        self._chunks: list[Chunk] = []
        self._size = 0
        self._ended = False
        self._arrived = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self._last_taken = -math.inf

    @property
    def size(self) -> int:
        """Bytes waiting to be taken."""
        return self._size

    async def put(self, fd: int, data: bytes) -> None:
        """Add a chunk; waits first while `limit` bytes are already waiting."""
        await self._room.wait()
        self._chunks.append((fd, data))
        self._size += len(data)
        if self._size >= self.limit:
            self._room.clear()
        self._arrived.set()

    def end(self) -> None:
        """No more chunks: `take` hands over what is left, then an empty batch."""
        self._ended = True
        self._arrived.set()

    async def take(self) -> list[Chunk]:
        """The next batch, in arrival order; [] once ended and all is taken.

        A chunk after a quiet spell goes at once; under a steady flow, batches go once per
        `interval`, or as soon as `limit` bytes wait.
        """
        loop = asyncio.get_running_loop()
        while not self._chunks and not self._ended:
            self._arrived.clear()
            await self._arrived.wait()
        due = self._last_taken + self.interval
        while self._size < self.limit and not self._ended and (left := due - loop.time()) > 0:
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), left)
        chunks, self._chunks, self._size = self._chunks, [], 0
        self._last_taken = loop.time()
        self._room.set()
        return chunks


class TextRuns:
    """Chunks as text, runs of one fd joined: [[fd, text], ...].

    One decoder per fd, so a character split between two chunks is decoded whole rather
    than as two replacement characters.
    """

    def __init__(self) -> None:
        self._decoders: dict[int, codecs.IncrementalDecoder] = {}

    def runs(self, chunks: list[Chunk], final: bool = False) -> list[list]:
        out: list[list] = []
        for fd, group in itertools.groupby(chunks, key=lambda chunk: chunk[0]):
            text = self._decoder(fd).decode(b"".join(data for _, data in group))
            if text:
                out.append([fd, text])
        if final:
            for fd, decoder in self._decoders.items():
                if rest := decoder.decode(b"", final=True):
                    out.append([fd, rest])
        return out

    def _decoder(self, fd: int) -> codecs.IncrementalDecoder:
        if fd not in self._decoders:
            self._decoders[fd] = codecs.getincrementaldecoder("utf-8")("replace")
        return self._decoders[fd]
