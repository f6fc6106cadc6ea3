"""The stream protocol's frames: Docker's stdcopy header, and nothing else gets through."""

import asyncio

import pytest

from engine.streams import wire


def read(data: bytes, frames: int = 1, eof: bool = True):
    """`frames` frames read from `data`, as a connection that then ends (or stays open)."""

    async def body():
        reader = asyncio.StreamReader()
        reader.feed_data(data)
        if eof:
            reader.feed_eof()
        return [await wire.read_frame(reader) for _ in range(frames)]

    return asyncio.run(body())


def test_output_frames_are_dockers_multiplexed_stream():
    assert wire.frame(wire.STDOUT, b"hi") == b"\x01\0\0\0\0\0\0\x02hi"
    assert wire.frame(wire.STDERR, b"") == b"\x02\0\0\0\0\0\0\0"


def test_frames_come_back_as_sent_and_a_clean_end_is_none():
    data = wire.frame(wire.STDOUT, b"a" * 70000) + wire.control(wire.END, {"result": {"x": 1}})
    first, second, end = read(data, frames=3)
    assert first == (wire.STDOUT, b"a" * 70000)
    assert second[0] == wire.END and wire.decode(second[1]) == {"result": {"x": 1}}
    assert end is None


def test_a_connection_cut_inside_a_frame_is_a_protocol_error():
    with pytest.raises(wire.ProtocolError):
        read(wire.frame(wire.STDOUT, b"abcdef")[:-2])
    with pytest.raises(wire.ProtocolError):
        read(b"\x01\0\0")


def test_a_frame_larger_than_the_limit_is_refused_before_it_is_read():
    header = wire.HEADER.pack(wire.STDOUT, wire.MAX_PAYLOAD + 1)
    with pytest.raises(wire.ProtocolError):
        read(header, eof=False)


def test_a_control_frame_that_is_not_json_is_a_protocol_error():
    with pytest.raises(wire.ProtocolError):
        wire.decode(b"{nope")
