"""The API side of a stream: open it on a node's agent, read its frames, send it input."""

import asyncio
import contextlib
import secrets
import select
from collections.abc import AsyncIterator

from ..errors import ApiError
from . import endpoints, handoff, wire
from .escape import DEFAULT_DETACH_KEYS, EscapeProxy

READY_TIMEOUT = 10.0
# Input read from a client per frame.
CHUNK = 256 * 1024
# How often a hijacked connection whose client sent all its input is checked for a hang-up.
HANG_UP_POLL = 0.5


class StreamError(ApiError):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class Stream:
    """One stream on a node's agent, over its own connection."""

    def __init__(self, node: str, kind: str, args: dict):
        self.node, self.kind, self.args = node, kind, args
        self.result: dict = {}
        # From the agent's READY when it can take the client's own connection (`handoff`).
        self.key = ""
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._closed = False

    async def open(self) -> "Stream":
        down = await endpoints.unreachable(self.node)
        if down:
            raise StreamError(503, f"{down}; its containers cannot be reached")
        try:
            self._reader, self._writer = await asyncio.wait_for(
                endpoints.connect(self.node, wire.READ_LIMIT), READY_TIMEOUT
            )
            opening = {"kind": self.kind, "args": self.args}
            opening["token"] = endpoints.node_token(self.node)
            await wire.send(self._writer, wire.control(wire.OPEN, opening))
            reply = await asyncio.wait_for(wire.read_frame(self._reader), READY_TIMEOUT)
        except (OSError, TimeoutError, wire.ProtocolError):
            await self._close()
            raise StreamError(503, f"the agent of node {self.node} is not answering") from None
        if reply is None:
            await self._close()
            raise StreamError(503, f"the agent of node {self.node} closed the stream")
        kind, payload = reply
        if kind == wire.ERROR:
            await self._close()
            error = wire.decode(payload)
            raise StreamError(error.get("status", 500), error.get("message", "stream failed"))
        if kind == wire.READY and payload:
            self.key = str(wire.decode(payload).get("key", ""))
        return self

    async def frames(self) -> AsyncIterator[tuple[int, bytes]]:
        """(kind, payload) of every data frame until the agent ends the stream; HANDED too,
        after the client's connection was handed to the agent."""
        while not self._closed:
            try:
                got = await wire.read_frame(self._reader)
            except (OSError, wire.ProtocolError):
                got = None
            if got is None:
                if self._closed:  # cancelled from this side
                    return
                self._closed = True
                raise StreamError(503, f"the agent of node {self.node} went away mid-stream")
            kind, payload = got
            if kind in (wire.STDOUT, wire.STDERR, wire.HANDED):
                yield kind, payload
            elif kind == wire.END:
                self.result = wire.decode(payload).get("result") or {}
                await self._close()
            elif kind == wire.ERROR:
                await self._close()
                error = wire.decode(payload)
                raise StreamError(error.get("status", 500), error.get("message", "stream failed"))

    async def messages(self) -> AsyncIterator[dict]:
        """The data frames as `{"fd", "data"}`, for callers that want them one by one."""
        async for fd, data in self.frames():
            yield {"fd": fd, "data": data}

    async def data(self) -> AsyncIterator[bytes]:
        """The stream's bytes, for a response body; a client that goes away cancels it."""
        try:
            async for _, data in self.frames():
                yield data
        finally:
            await self.cancel()

    async def drain(self) -> None:
        """Read the stream to its end, for streams whose answer is their result."""
        async for _ in self.frames():
            pass

    async def write(self, data: bytes) -> None:
        for start in range(0, len(data), CHUNK):
            await self._send(wire.frame(wire.STDIN, data[start : start + CHUNK]))

    async def eof(self) -> None:
        await self._send(wire.frame(wire.EOF, b""))

    async def detach(self) -> None:
        """End the stream as a client leaving with its detach keys: what runs goes on."""
        await self._send(wire.frame(wire.DETACH, b""))
        await self.cancel()

    async def resize(self, height: int, width: int) -> None:
        await self._send(wire.control(wire.RESIZE, {"h": height, "w": width}))

    def hand_over_client(self, writer: asyncio.StreamWriter, tty: bool) -> bool:
        """Offer the agent the client's own connection, when it is on this machine and the
        connection a plain socket; True if offered (the agent answers HANDED when it takes it)."""
        client = handoff.plain_socket(writer.transport)
        if not self.key or self._closed or client is None:
            return False
        return handoff.offer(self.key, client, tty)

    async def flushed(self) -> None:
        """What was relayed before HANDED has left: the agent writes to the client now."""
        if not await asyncio.to_thread(handoff.flushed, self.key):
            raise StreamError(503, f"the agent of node {self.node} did not take the stream")

    async def _send(self, data: bytes) -> None:
        if self._closed or self._writer is None:
            return
        with contextlib.suppress(OSError):
            await wire.send(self._writer, data)

    async def cancel(self) -> None:
        """End the stream from this side: the agent stops what it was doing for it."""
        await self._close()

    async def _close(self) -> None:
        self._closed = True
        if self._writer is not None:
            writer, self._writer = self._writer, None
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


# Streams a view opened, waiting for the connection it answered to be handed over. A view
# opens its stream itself, so that a failure is its HTTP answer and an attach is in place
# before the client hears back and starts the container.
_HANDED_OVER: dict[str, Stream] = {}
HAND_OVER_TIMEOUT = 30.0


def hand_over(stream: Stream) -> str:
    """A key under which `run_hijacked` finds the open stream; dropped if nobody comes."""
    key = secrets.token_hex(16)
    _HANDED_OVER[key] = stream

    def expire() -> None:
        if (left := _HANDED_OVER.pop(key, None)) is not None:
            asyncio.ensure_future(left.cancel())

    asyncio.get_running_loop().call_later(HAND_OVER_TIMEOUT, expire)
    return key


async def _hijacked_stream(spec: dict) -> Stream:
    stream = _HANDED_OVER.pop(spec.get("stream", ""), None)
    if stream is None:
        stream = await Stream(spec["node"], spec["kind"], spec["args"]).open()
    return stream


async def run_hijacked(
    spec: dict, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    """Relay a hijacked connection (attach, exec start) to the agent until the stream ends.

    Without a tty the agent's frames are Docker's multiplexed stream as they are; with one,
    the raw bytes.
    """
    tty = spec.get("tty", False)
    try:
        stream = await _hijacked_stream(spec)
    except StreamError as e:
        await _tell(writer, tty, e.message)
        return
    pump = asyncio.create_task(_relay_input(stream, reader, writer, spec))
    stream.hand_over_client(writer, tty)
    try:
        async for kind, data in stream.frames():
            if kind == wire.HANDED:
                await _flush(writer)
                await stream.flushed()
            elif tty:
                writer.write(data)
            else:
                writer.writelines((wire.HEADER.pack(kind, len(data)), data))
            await writer.drain()
    except StreamError as e:
        await _tell(writer, tty, e.message)
    except ConnectionError:
        pass
    finally:
        await stream.cancel()
        pump.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await pump


async def _flush(writer: asyncio.StreamWriter) -> None:
    """Wait until everything written has gone to the socket, where the agent writes next."""
    writer.transport.set_write_buffer_limits(high=0)
    await writer.drain()


async def _tell(writer: asyncio.StreamWriter, tty: bool, message: str) -> None:
    """An error the client shows: on stderr without a tty, in the terminal with one."""
    text = f"Error: {message}\n".encode()
    with contextlib.suppress(ConnectionError):
        writer.write(text if tty else wire.frame(wire.STDERR, text))
        await writer.drain()


async def _relay_input(
    stream: Stream, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, spec: dict
) -> None:
    """The client's stdin to the stream, if it asked to send any; then watch for it leaving.

    The docker CLI half-closes its side once its input ends (at once without stdin), so the
    end of input is not the end of the client. A client that has gone altogether shows as a
    hang-up on the socket (on a unix socket always; over TCP if it left unread output), and
    its stream is cancelled: an exec it started does not run on with nobody attached. A client
    that types its detach keys (with a tty, as with Docker) leaves it running instead.
    """
    stdin = spec.get("stdin", False)
    escape = None
    if stdin and spec.get("tty"):
        escape = EscapeProxy(bytes(spec.get("detach_keys") or DEFAULT_DETACH_KEYS))
    while data := await reader.read(CHUNK):
        if escape is not None:
            data, detached = escape.feed(data)
            if detached:
                await stream.detach()
                return
        if stdin and data:
            await stream.write(data)
    if stdin:
        await stream.eof()
    sock = writer.get_extra_info("socket")
    if sock is None:
        return
    poller = select.poll()
    poller.register(sock.fileno(), select.POLLHUP | select.POLLERR)
    while not poller.poll(0):
        await asyncio.sleep(HANG_UP_POLL)
    await stream.cancel()
