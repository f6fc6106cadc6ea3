"""conmon's packets become frames that hold every byte, in order, of the right stream."""

import asyncio
import os
import random
import socket
import threading

import pytest

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
        frames = conmon_output.ConmonFrames(ours)
        got = []
        while (frame := await frames.next_async()) is not None:
            got.append(checked(*frame))
        await sender
        return got

    try:
        return asyncio.run(body())
    finally:
        ours.close()


def relay_blocking(packets: list[tuple[int, bytes]]) -> list[tuple[int, bytes]]:
    """The same, read by a thread of its own as a direct stream does."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    ours.setblocking(False)

    def send():
        for byte, data in packets:
            theirs.sendall(bytes([byte]) + data)
        theirs.close()

    sender = threading.Thread(target=send)
    sender.start()
    frames = conmon_output.ConmonFrames(ours)
    got = []
    while (frame := frames.next_blocking(threading.Event())) is not None:
        got.append(checked(*frame))
    sender.join()
    ours.close()
    return got


def checked(fd: int, frame: bytes | memoryview) -> tuple[int, bytes]:
    kind, size = wire.HEADER.unpack(frame[: wire.HEADER.size])
    assert (kind, size) == (fd, len(frame) - wire.HEADER.size)
    return fd, bytes(frame[wire.HEADER.size :])


def joined(pairs) -> dict[int, bytes]:
    out = {1: b"", 2: b""}
    for fd, data in pairs:
        out[fd] += data
    return out


@pytest.mark.parametrize("read", [relay, relay_blocking])
def test_interleaved_streams_keep_every_byte_in_order(read):
    rng = random.Random(7)
    packets = [(rng.choice((2, 3)), os.urandom(rng.randint(1, 8192))) for _ in range(2000)]
    frames = read(packets)
    assert joined(frames) == joined([(1 if b == 2 else 2, d) for b, d in packets])


def test_a_run_of_one_stream_is_sent_in_big_frames():
    packets = [(2, bytes([i % 256]) * 8192) for i in range(400)]
    frames = relay(packets)
    assert b"".join(d for _, d in frames) == b"".join(d for _, d in packets)
    assert len(frames) < 400


def test_a_stopped_reader_returns_while_conmon_is_quiet():
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    ours.setblocking(False)
    stop = threading.Event()
    stop.set()
    try:
        assert conmon_output.ConmonFrames(ours).next_blocking(stop) is None
    finally:
        ours.close()
        theirs.close()
