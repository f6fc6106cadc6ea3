"""conmon's attach packets gathered into stream frames, with at most one copy of each byte.

conmon sends a packet per read of the container's pipe: a stream byte, then up to 8 KiB. A
packet is received straight into a frame buffer, its stream byte landing on the last byte of
what came before, which is put back once the byte is read; what else is waiting is taken
without waiting, up to `COALESCE`, and the frame, header included, goes out as one write.

Frames are read two ways from the same non-blocking socket: on the event loop, copied out for
a relay (`next_async`), and in a thread of the stream's own, as views of the buffer that a
client's own connection is written from without a copy (`next_blocking`, see `_copy_direct`
in `containers`). Either way a reader that keeps up with conmon pauses briefly after a short
frame, so that it wakes once per several packets rather than for each.
"""

import asyncio
import select
import socket
import threading
import time

from runtime.containers import attach

from ...streams import wire

# Output gathered before it is sent on as one frame.
COALESCE = 256 * 1024
_HEAD = wire.HEADER.size
# Frames shorter than this that empty the socket are followed by a pause of MODERATION s, so
# that a reader ahead of conmon wakes once per several packets rather than for each (without
# a pause the agent spent 0.34 s of CPU per 100 MiB attached instead of 0.16 s). The pause is
# kept short: conmon's socket buffer holds about 120 KiB, which conmon fills in well under a
# millisecond and then waits. bench/streams.py's attached output, quiet 2-core machine, medians
# of 3: 979 ms (102 MiB/s) with 0.2 ms against 1303 ms (77 MiB/s) with 1 ms. A stream with
# stdin has no pause: conmon reads input and sends output in one loop, and `run -i cat` of
# 100 MiB took 2.3 s with a pause against 1.7 s without.
MODERATED = 64 * 1024
MODERATION = 0.0002
# How often a thread waiting on a socket looks whether its stream was cancelled.
STOP_POLL_MS = 100


def _stream(byte: int) -> int:
    return attach.STREAMS.get(byte, wire.STDOUT)


class ConmonFrames:
    """The frames of one attach socket, until conmon closes it."""

    def __init__(self, sock: socket.socket, moderate: bool = True) -> None:
        self._sock = sock
        self._moderate = moderate
        self._buf = bytearray(_HEAD + COALESCE + attach.OUTPUT_PACKET)
        self._view = memoryview(self._buf)
        # A packet of the other stream ends a frame; its data starts the next one.
        self._carried_fd: int | None = None
        self._carried = 0
        self._end = _HEAD
        self._closed = False
        # The last frame took all there was: the reader is ahead of conmon.
        self._drained = False

    @property
    def _first(self) -> memoryview:
        return self._view[_HEAD - 1 : _HEAD - 1 + attach.OUTPUT_PACKET]

    def _gather(self, fd: int, end: int) -> memoryview:
        """The frame that starts with a packet of `fd` ending at `end`, with what else waits."""
        buf, view = self._buf, self._view
        while end - _HEAD < COALESCE:
            keep = buf[end - 1]
            try:
                size = self._sock.recv_into(view[end - 1 : end - 1 + attach.OUTPUT_PACKET])
            except BlockingIOError:
                self._drained = True
                break
            if size == 0:
                self._closed = True
                break
            packet_fd = _stream(buf[end - 1])
            buf[end - 1] = keep
            if packet_fd != fd:
                self._carried_fd, self._carried = packet_fd, size - 1
                break
            end += size - 1
        wire.HEADER.pack_into(buf, 0, fd, end - _HEAD)
        self._end = end
        return view[:end]

    def _start(self) -> tuple[int, int] | None:
        """(stream, end) of a frame's first packet when one is already at hand."""
        if self._carried_fd is None:
            return None
        # The packet that ended the last frame: its data moves to the front.
        end = self._end
        self._buf[_HEAD : _HEAD + self._carried] = self._buf[end : end + self._carried]
        fd, self._carried_fd = self._carried_fd, None
        return fd, _HEAD + self._carried

    def _pause_due(self) -> bool:
        """Whether a short frame took all there was: the reader is ahead of conmon, and a
        moment's pause lets packets gather instead of a wake-up and a frame for each (a packet
        that comes alone is sent at once, only one in the pause waits)."""
        due = self._moderate and self._drained and self._end - _HEAD < MODERATED
        self._drained = False
        return due

    def _received(self, size: int) -> tuple[int, int] | None:
        if size == 0:
            return None
        return _stream(self._buf[_HEAD - 1]), _HEAD - 1 + size

    async def next_async(self) -> tuple[int, bytes] | None:
        """(stream, whole frame), copied: a transport may hold on to what it was given."""
        if self._closed:
            return None
        if self._pause_due():
            await asyncio.sleep(MODERATION)
        start = self._start()
        if start is None:
            loop = asyncio.get_running_loop()
            start = self._received(await loop.sock_recv_into(self._sock, self._first))
            if start is None:
                return None
        return start[0], bytes(self._gather(*start))

    def next_blocking(self, stop: threading.Event) -> tuple[int, memoryview] | None:
        """(stream, whole frame) as a view, valid until the next call; None at the end or
        once `stop` is set."""
        if self._closed:
            return None
        if self._pause_due():
            time.sleep(MODERATION)
        start = self._start()
        while start is None:
            try:
                start = self._received(self._sock.recv_into(self._first))
            except BlockingIOError:
                if stop.is_set():
                    return None
                _wait(self._sock.fileno(), select.POLLIN)
                continue
            if start is None:
                return None
        return start[0], self._gather(*start)


def _wait(fd: int, events: int) -> None:
    poller = select.poll()
    poller.register(fd, events)
    poller.poll(STOP_POLL_MS)
