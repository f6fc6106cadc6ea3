"""The agent's stream server with the API side's client: order, back-pressure, hang-ups, tokens."""

import asyncio
import hashlib
import os
import socket

import pytest
from asgiref.sync import async_to_sync, sync_to_async

from engine.agent import server as agent_server
from engine.agent.server import StreamServer
from engine.models import Node
from engine.streams import endpoints, wire
from engine.streams.client import Stream, StreamError, run_hijacked

pytestmark = pytest.mark.django_db(transaction=True)

CHUNK = 64 * 1024


class Probe:
    """Handlers whose progress a test can watch."""

    def __init__(self) -> None:
        self.sent = 0
        self.stopped = asyncio.Event()
        # Whether the output went to a client's connection handed to the agent.
        self.direct = False

    async def produce(self, ctx) -> None:
        try:
            for i in range(ctx.args["chunks"]):
                await ctx.data(bytes([i % 251]) * CHUNK)
                self.sent += CHUNK
            self.direct = ctx.client is not None
            await ctx.end({"sent": self.sent})
        finally:
            self.stopped.set()

    async def two_sources(self, ctx) -> None:
        """stdout and stderr written at once, as an exec's two pipes are."""

        async def source(fd: int) -> None:
            for i in range(ctx.args["chunks"]):
                await ctx.data(bytes([i % 251]) * CHUNK, fd)

        await asyncio.gather(source(wire.STDOUT), source(wire.STDERR))
        self.direct = ctx.client is not None
        await ctx.end()

    async def echo(self, ctx) -> None:
        while (message := await ctx.input.get())["type"] == "stream.input":
            await ctx.data(message["data"], wire.STDERR)
        self.direct = ctx.client is not None
        await ctx.end({"eof": message["type"]})


def expected(chunks: int) -> str:
    return hashlib.sha256(b"".join(bytes([i % 251]) * CHUNK for i in range(chunks))).hexdigest()


@pytest.fixture
def serving(monkeypatch):
    """Run `body(probe)` against a stream server on the agent socket (and TCP) of a node."""
    probe = Probe()
    # Each test's node "n1" is a new row with an address of its own.
    monkeypatch.setattr(endpoints, "_addresses", {})
    monkeypatch.setitem(agent_server.HANDLERS, "produce", probe.produce)
    monkeypatch.setitem(agent_server.HANDLERS, "echo", probe.echo)
    monkeypatch.setitem(agent_server.HANDLERS, "two_sources", probe.two_sources)

    def run(body, tcp: bool = False) -> None:
        async def main():
            streams = StreamServer("n1")
            await streams.listen_unix(endpoints.agent_socket())
            address = ""
            if tcp:
                host, port = await streams.listen_tcp("127.0.0.1", 0)
                address = f"tcp://{host}:{port}"
            await sync_to_async(Node.objects.create)(name="n1", stream_address=address)
            try:
                await body(probe)
            finally:
                await streams.close()

        async_to_sync(main)()

    return run


def test_every_byte_arrives_in_order_and_the_result_after_it(serving):
    async def body(probe):
        stream = await Stream("n1", "produce", {"chunks": 300}).open()
        digest = hashlib.sha256()
        async for fd, data in stream.frames():
            assert fd == wire.STDOUT
            digest.update(data)
        assert digest.hexdigest() == expected(300)
        assert stream.result == {"sent": 300 * CHUNK}

    serving(body)


def test_a_reader_that_stops_stops_the_writer_and_loses_nothing(serving):
    async def body(probe):
        stream = await Stream("n1", "produce", {"chunks": 800}).open()
        frames = stream.frames()
        first = await anext(frames)
        await asyncio.sleep(0.5)
        held = probe.sent
        await asyncio.sleep(0.5)
        # The producer waits for the reader: only what the sockets hold has been sent.
        assert probe.sent == held < 16 * 1024 * 1024
        digest = hashlib.sha256(first[1])
        async for _, data in frames:
            digest.update(data)
        assert digest.hexdigest() == expected(800)

    serving(body)


def test_a_client_that_hangs_up_stops_its_stream(serving):
    async def body(probe):
        stream = await Stream("n1", "produce", {"chunks": 10_000}).open()
        await anext(stream.frames())
        await stream.cancel()
        await asyncio.wait_for(probe.stopped.wait(), 5)
        assert probe.sent < 10_000 * CHUNK

    serving(body)


def test_input_reaches_the_handler_and_its_end_is_told(serving):
    async def body(probe):
        stream = await Stream("n1", "echo", {}).open()
        await stream.write(b"x" * 1_000_000)
        await stream.eof()
        got = b""
        async for fd, data in stream.frames():
            assert fd == wire.STDERR
            got += data
        assert got == b"x" * 1_000_000
        assert stream.result == {"eof": "stream.eof"}

    serving(body)


def test_over_tcp_a_stream_needs_the_nodes_own_token(serving):
    async def body(probe):
        stream = await Stream("n1", "produce", {"chunks": 1}).open()
        await stream.drain()
        address = await sync_to_async(lambda: Node.objects.get(name="n1").stream_address)()
        reader, writer = await asyncio.open_connection(*endpoints.split_tcp(address))
        opening = {"kind": "produce", "args": {"chunks": 1}, "token": "from-another-node"}
        await wire.send(writer, wire.control(wire.OPEN, opening))
        kind, payload = await wire.read_frame(reader)
        assert (kind, wire.decode(payload)["status"]) == (wire.ERROR, 401)
        assert await wire.read_frame(reader) is None
        writer.close()

    serving(body, tcp=True)


def test_an_unknown_kind_is_refused_at_open(serving):
    async def body(probe):
        with pytest.raises(StreamError) as refused:
            await Stream("n1", "format-the-disk", {}).open()
        assert refused.value.status == 400

    serving(body)


def demultiplexed(data: bytes) -> dict[int, bytes]:
    """Docker's multiplexed stream, as the docker CLI reads it, by stream."""
    out: dict[int, bytes] = {}
    while data:
        kind, size = wire.HEADER.unpack(data[: wire.HEADER.size])
        end = wire.HEADER.size + size
        assert len(data) >= end, "a frame cut short"
        out[kind] = out.get(kind, b"") + data[wire.HEADER.size : end]
        data = data[end:]
    return out


async def hijacked(spec: dict) -> tuple[asyncio.Task, socket.socket]:
    """The gateway's relay of a hijacked connection, and the client's end of it."""
    ours, client_end = socket.socketpair()
    client_end.setblocking(False)
    reader, writer = await asyncio.open_unix_connection(sock=ours)
    task = asyncio.create_task(run_hijacked(spec, reader, writer))
    task.add_done_callback(lambda _: writer.close())
    return task, client_end


async def read_all(sock: socket.socket, pause: float = 0) -> bytes:
    loop = asyncio.get_running_loop()
    got = bytearray()
    while data := await loop.sock_recv(sock, 1 << 20):
        got += data
        if pause:
            await asyncio.sleep(pause)
    return bytes(got)


def test_a_local_client_connection_is_written_by_the_agent_itself(serving):
    async def body(probe):
        spec = {"node": "n1", "kind": "produce", "args": {"chunks": 300}, "tty": False}
        task, client = await hijacked(spec)
        got = demultiplexed(await read_all(client))
        await task
        assert probe.direct
        assert hashlib.sha256(got[wire.STDOUT]).hexdigest() == expected(300)

    serving(body)


def test_a_handed_over_client_that_stops_reading_stops_the_writer(serving):
    async def body(probe):
        spec = {"node": "n1", "kind": "produce", "args": {"chunks": 800}, "tty": False}
        task, client = await hijacked(spec)
        await asyncio.wait_for(poll(lambda: probe.sent > 0), 5)
        await asyncio.sleep(0.5)
        held = probe.sent
        await asyncio.sleep(0.5)
        assert probe.sent == held < 16 * 1024 * 1024
        got = demultiplexed(await read_all(client))
        await task
        assert probe.direct
        assert hashlib.sha256(got[wire.STDOUT]).hexdigest() == expected(800)

    serving(body)


def test_input_flowing_in_does_not_hold_up_a_hand_over(serving):
    async def body(probe):
        # Output that waits for the hand-over while input keeps coming: the word that the
        # relayed output left must not queue behind input the agent is slow to take.
        spec = {"node": "n1", "kind": "echo", "args": {}, "tty": False, "stdin": True}
        task, client = await hijacked(spec)
        data = os.urandom(8 * 1024 * 1024)
        loop = asyncio.get_running_loop()

        async def feed():
            await loop.sock_sendall(client, data)
            client.shutdown(socket.SHUT_WR)

        feeding = asyncio.create_task(feed())
        got = await asyncio.wait_for(read_all(client), 60)
        await feeding
        await task
        assert probe.direct
        assert demultiplexed(got) == {wire.STDERR: data}

    serving(body)


def test_two_sources_writing_at_once_reach_a_slow_client_as_whole_frames(serving):
    async def body(probe):
        spec = {"node": "n1", "kind": "two_sources", "args": {"chunks": 100}, "tty": False}
        task, client = await hijacked(spec)
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        got = demultiplexed(await read_all(client, pause=0.001))
        await task
        assert probe.direct
        assert hashlib.sha256(got[wire.STDOUT]).hexdigest() == expected(100)
        assert hashlib.sha256(got[wire.STDERR]).hexdigest() == expected(100)

    serving(body)


async def poll(condition) -> None:
    while not condition():
        await asyncio.sleep(0.01)
