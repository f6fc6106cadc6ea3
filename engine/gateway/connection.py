"""One client connection of the engine gateway: HTTP/1.1 cycles through h11, maybe a hijack.

h11 parses and frames every message; this module moves bytes between the socket, h11 and the
ASGI app. The hand-over of the raw connection after a 101 is written here because ASGI has no
event for it: the docker CLI's attach and exec expect the very socket that carried the request
to become a bidirectional stream.
"""

import asyncio
import json
import logging
import socket
import struct
from collections.abc import Awaitable, Callable
from typing import Any

import h11

from .hijack import hijack_head, hijack_settings
from .request_cycle import RequestCycle, reason

log = logging.getLogger(__name__)

ASGIApp = Callable[[dict, Callable, Callable], Awaitable[None]]
HijackHandler = Callable[[dict, asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]

# Unread request bytes kept in memory before the socket stops being read: big uploads flow
# at the pace the app consumes them.
READ_HIGH_WATER = 256 * 1024
# docker sends registry credentials and build configs in headers; Go's server allows 1 MiB.
MAX_HEADER_BYTES = 1024 * 1024

_ASGI = {"version": "3.0", "spec_version": "2.3"}
_UNIX_SERVER = ("localhost", 0)


def _peer_credentials(sock: socket.socket) -> dict[str, int] | None:
    try:
        raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    except OSError:
        return None
    pid, uid, gid = struct.unpack("3i", raw)
    return {"pid": pid, "uid": uid, "gid": gid}


class HttpConnection(asyncio.Protocol):
    """Serves the requests of one connection in order, then closes or hijacks it."""

    def __init__(
        self,
        app: ASGIApp,
        hijack_handler: HijackHandler,
        kind: str,
        connections: set["HttpConnection"],
    ) -> None:
        self._app = app
        self._hijack_handler = hijack_handler
        self._kind = kind
        self._connections = connections
        self._h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEADER_BYTES)
        self._inbox = bytearray()
        self._reading_paused = False
        self._eof = False
        self._lost = False
        self._waiters: list[asyncio.Future] = []
        self._writable = asyncio.Event()
        self._writable.set()
        self._held: list[bytes] = []
        self._flush_scheduled = False
        self._transport: asyncio.Transport | None = None
        self.scope_base: dict[str, Any] = {}
        self.task: asyncio.Task | None = None

    # asyncio.Protocol callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport
        self.scope_base = self._connection_scope(transport)
        self._connections.add(self)
        self.task = asyncio.get_running_loop().create_task(self._run())
        self.task.add_done_callback(lambda _: self._connections.discard(self))

    def data_received(self, data: bytes) -> None:
        self._inbox += data
        if len(self._inbox) > READ_HIGH_WATER and not self._reading_paused:
            self._reading_paused = True
            self._transport.pause_reading()
        self.wake()

    def eof_received(self) -> bool:
        self._eof = True
        self.wake()
        # Keep the write side open: a hijacked client half-closes to send stdin EOF.
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        self._writable.set()
        self.wake()

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()

    # plumbing shared with the request cycle

    def wake(self) -> None:
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._waiters.clear()

    async def wait(self) -> None:
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        await waiter

    def gone(self, upgrade_requested: bool) -> bool:
        # A client that asked for an upgrade may half-close early; only a lost socket counts.
        return self._lost or (self._eof and not upgrade_requested)

    @property
    def lost(self) -> bool:
        return self._lost

    @property
    def parser(self) -> h11.Connection:
        return self._h11

    def write(self, chunks: list[bytes]) -> None:
        if self._held:
            chunks = self._held + chunks
            self._held = []
        if not self._lost and chunks:
            self._transport.writelines(chunks)

    def hold(self, chunk: bytes) -> None:
        """Write a response head with the first body chunk, or on the next loop pass.

        One send per small response instead of two; a stream that starts with nothing to say
        still shows its status at once, which clients of events and logs wait for.
        """
        self._held.append(chunk)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush_held)

    def _flush_held(self) -> None:
        self._flush_scheduled = False
        self.write([])

    async def drain(self) -> None:
        if not self._writable.is_set():
            await self._writable.wait()

    async def next_event(self) -> Any:
        while True:
            event = self._h11.next_event()
            if event is not h11.NEED_DATA:
                return event
            if self._inbox:
                self._h11.receive_data(bytes(self._inbox))
                self._inbox.clear()
                if self._reading_paused and not self._lost:
                    self._reading_paused = False
                    self._transport.resume_reading()
            elif self._eof or self._lost:
                self._h11.receive_data(b"")
            else:
                await self.wait()

    # the connection's life

    def _connection_scope(self, transport: asyncio.BaseTransport) -> dict[str, Any]:
        scope: dict[str, Any] = {
            "type": "http",
            "asgi": _ASGI,
            "scheme": "http",
            "root_path": "",
            "dockyard.transport": self._kind,
        }
        if self._kind == "unix":
            scope["server"] = _UNIX_SERVER
            scope["client"] = None
            sock = transport.get_extra_info("socket")
            scope["dockyard.peer"] = _peer_credentials(sock) if sock is not None else None
        else:
            scope["server"] = tuple(transport.get_extra_info("sockname")[:2])
            scope["client"] = tuple(transport.get_extra_info("peername")[:2])
            # Django's is_secure(), secure cookies and CSRF's origin checks go by the scheme.
            if transport.get_extra_info("sslcontext") is not None:
                scope["scheme"] = "https"
        return scope

    async def _run(self) -> None:
        try:
            while True:
                try:
                    event = await self.next_event()
                except h11.RemoteProtocolError as exc:
                    self._answer_error(exc.error_status_hint, f"bad request: {exc}")
                    return
                if type(event) is not h11.Request:
                    return
                cycle = await self._serve(event)
                if cycle.hijack_headers is not None or not await self._finish_cycle(cycle):
                    return
                self._h11.start_next_cycle()
        except Exception:
            log.exception("engine gateway connection failed")
        finally:
            self.write([])
            self._transport.close()

    async def _finish_cycle(self, cycle: RequestCycle) -> bool:
        """Skip what the app left unread of the request; True if the connection can go on."""
        if self._h11.our_state is not h11.DONE or cycle.body_declined:
            return False
        try:
            while self._h11.their_state is h11.SEND_BODY:
                await self.next_event()
        except h11.RemoteProtocolError:
            return False
        return self._h11.their_state is h11.DONE and not self._lost

    async def _serve(self, request: h11.Request) -> RequestCycle:
        cycle = RequestCycle(self, request)
        try:
            await self._app(cycle.scope, cycle.receive, cycle.send)
        except Exception:
            log.exception("engine API request %s %s failed", cycle.scope["method"], cycle.target)
            if not cycle.started or cycle.hijack_headers is not None:
                self._answer_error(500, "internal server error")
            cycle.hijack_headers = None
            return cycle
        if cycle.bad_request is not None:
            cycle.hijack_headers = None
            if not cycle.head_sent:
                self._answer_error(400, cycle.bad_request)
        elif cycle.hijack_headers is not None:
            await self._hijack(cycle)
        elif not cycle.started:
            self._answer_error(500, "the API returned no response")
        return cycle

    def _answer_error(self, status: int, message: str) -> None:
        """A Docker-style JSON error, then the connection closes."""
        if self._lost or self._h11.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
            return
        body = json.dumps({"message": message}).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        try:
            self.write(
                [
                    self._h11.send(
                        h11.Response(status_code=status, headers=headers, reason=reason(status))
                    ),
                    self._h11.send(h11.Data(data=body)),
                    self._h11.send(h11.EndOfMessage()),
                ]
            )
        except h11.LocalProtocolError:
            log.warning("could not answer %s on a broken connection", status)

    async def _hijack(self, cycle: RequestCycle) -> None:
        try:
            spec, content_type = hijack_settings(cycle.hijack_headers)
        except ValueError as exc:
            log.error("engine API %s: %s", cycle.target, exc)
            self._answer_error(500, "internal server error")
            return
        try:
            # A client still waiting for 100-continue sends no body to skip.
            while (
                self._h11.their_state is h11.SEND_BODY
                and not self._h11.they_are_waiting_for_100_continue
            ):
                await self.next_event()
        except h11.RemoteProtocolError:
            return
        await self.drain()
        if self._lost:
            return
        reader, writer = self._switch_to_streams()
        writer.write(hijack_head(cycle.upgrade, content_type))
        try:
            await self._hijack_handler(spec, reader, writer)
        except Exception:
            log.exception("hijacked stream for %s failed", cycle.target)
        finally:
            writer.close()
            try:
                await writer.wait_closed()
            except OSError:
                pass

    def _switch_to_streams(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """Hand the socket to asyncio streams, bytes already received first.

        Nothing awaits in here, so no byte can arrive between the two protocols.
        """
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(loop=loop)
        protocol = _HalfOpenStreamProtocol(reader, loop=loop)
        self._transport.set_protocol(protocol)
        protocol.connection_made(self._transport)
        if self._reading_paused:
            self._reading_paused = False
            self._transport.resume_reading()
        pending = self._h11.trailing_data[0] + bytes(self._inbox)
        self._inbox.clear()
        if pending:
            reader.feed_data(pending)
        if self._eof:
            reader.feed_eof()
        return reader, asyncio.StreamWriter(self._transport, protocol, reader, loop)


class _HalfOpenStreamProtocol(asyncio.StreamReaderProtocol):
    def eof_received(self) -> bool:
        super().eof_received()
        # The client only stopped sending (stdin EOF); over TLS too (see tls.py), where
        # asyncio's own answer would close the connection and lose the rest of the output.
        return True
