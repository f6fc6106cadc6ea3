"""conmon's packets become frames that hold every byte, in order, of the right stream."""

import asyncio
import os
import random
import socket

from engine.agent.handlers import conmon_output
from engine.streams import wire


def relay(packets: list[tuple[int, bytes]]) -> list[tuple[int, bytes]]:
    """Send (conmon stream byte, data) packets and read back the frames, as (stream, data)."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    ours.setblocking(False)
    theirs.setblocking(False)

    async def body():
        loop = asyncio.get_running_loop()

        async def send():
            for byte, data in packets:
                await loop.sock_sendall(theirs, bytes([byte]) + data)
            theirs.close()

        sender = asyncio.create_task(send())
        got = []
        async for fd, frame in conmon_output.frames(ours):
            kind, size = wire.HEADER.unpack(frame[: wire.HEADER.size])
            assert (kind, size) == (fd, len(frame) - wire.HEADER.size)
            got.append((fd, bytes(frame[wire.HEADER.size :])))
        await sender
        return got

    try:
        return asyncio.run(body())
    finally:
        ours.close()


def joined(pairs) -> dict[int, bytes]:
    out = {1: b"", 2: b""}
    for fd, data in pairs:
        out[fd] += data
    return out


def test_interleaved_streams_keep_every_byte_in_order():
    rng = random.Random(7)
    packets = [(rng.choice((2, 3)), os.urandom(rng.randint(1, 8192))) for _ in range(2000)]
    frames = relay(packets)
    assert joined(frames) == joined([(1 if b == 2 else 2, d) for b, d in packets])


def test_a_run_of_one_stream_is_sent_in_big_frames():
    packets = [(2, bytes([i % 256]) * 8192) for i in range(400)]
    frames = relay(packets)
    assert b"".join(d for _, d in frames) == b"".join(d for _, d in packets)
    assert len(frames) < 400
