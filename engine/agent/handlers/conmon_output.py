"""conmon's attach packets gathered into stream frames, with one copy of each byte.

conmon sends a packet per read of the container's pipe: a stream byte, then up to 8 KiB. A
packet is received straight into a frame buffer, its stream byte landing on the last byte of
what came before, which is put back once the byte is read. A finished frame, header
included, is copied out once: no per-packet bytes objects, no joins.
"""

import asyncio
import socket
from collections.abc import AsyncIterator

from runtime.containers import attach

from ...streams import wire

# Output gathered before it is sent on as one frame.
COALESCE = 256 * 1024
_HEAD = wire.HEADER.size


def _stream(byte: int) -> int:
    return attach.STREAMS.get(byte, wire.STDOUT)


async def frames(sock: socket.socket) -> AsyncIterator[tuple[int, bytes]]:
    """(stream, whole frame) until conmon closes the socket."""
    loop = asyncio.get_running_loop()
    buf = bytearray(_HEAD + COALESCE + attach.OUTPUT_PACKET)
    view = memoryview(buf)
    first = view[_HEAD - 1 : _HEAD - 1 + attach.OUTPUT_PACKET]
    # A packet of the other stream ends a frame; its data starts the next one.
    carried_fd: int | None = None
    end = _HEAD
    while True:
        if carried_fd is None:
            size = await loop.sock_recv_into(sock, first)
            if size == 0:
                return
            fd, end = _stream(buf[_HEAD - 1]), _HEAD - 1 + size
        else:
            fd, carried_fd = carried_fd, None
        closed, carried = False, 0
        # Take what else is waiting without a loop pass per packet.
        while end - _HEAD < COALESCE:
            keep = buf[end - 1]
            try:
                size = sock.recv_into(view[end - 1 : end - 1 + attach.OUTPUT_PACKET])
            except BlockingIOError:
                break
            if size == 0:
                closed = True
                break
            packet_fd = _stream(buf[end - 1])
            buf[end - 1] = keep
            if packet_fd != fd:
                carried_fd, carried = packet_fd, size - 1
                break
            end += size - 1
        wire.HEADER.pack_into(buf, 0, fd, end - _HEAD)
        # A copy: a transport may hold on to what it was given until it is sent, and the
        # buffer is about to take the next packets.
        yield fd, bytes(view[:end])
        if closed:
            return
        if carried_fd is not None:
            buf[_HEAD : _HEAD + carried] = buf[end : end + carried]
            end = _HEAD + carried
