"""uvicorn's HTTP protocol, able to serve the engine API's hijacked streams on the web port.

`docker attach`, `docker run` and `docker exec` send `Connection: Upgrade` and `Upgrade: tcp`,
and expect the very connection to become a raw bidirectional stream once the view answers.
uvicorn hands a connection over only to its websocket protocol: for any other upgrade it
runs the request as plain HTTP with an empty body and drops what follows the head (httptools
stops parsing there). This protocol hands an `Upgrade: tcp` request, with every byte after
its head (the body, early stdin), to the engine gateway's `HttpConnection`, which serves it
with the same app and hijacks the connection when the view asks to, as on the admin socket.

What it relies on in uvicorn's `HttpToolsProtocol` (pinned by tests/engine/gateway/
test_web_protocol.py): `data_received` feeds `self.parser` and, when that raises
`HttpParserUpgrade`, calls `handle_websocket_upgrade` if `_should_upgrade()` is true, which
also keeps `on_headers_complete` from starting the request; the head is rebuilt from
`self.url` and `self.scope` as uvicorn's own websocket hand-over does.
"""

import asyncio
import json
from typing import Any

import httptools
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from .connection import ASGIApp, HijackHandler, HttpConnection
from .hijack import HIJACK_HEADER
from .tls import watch_close_notify

TCP_UPGRADE = b"tcp"
# Hijacked connections and those that asked to be; a set of their own, as in the gateway.
_engine_connections: set[HttpConnection] = set()
_NEEDS_UPGRADE = json.dumps(
    {
        "message": "this endpoint streams over the request's own connection: "
        "send it with `Connection: Upgrade` and `Upgrade: tcp`"
    }
).encode()


async def run_engine_stream(
    spec: dict, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    """The engine's stream relay, imported on first use, as `run_gateway` does."""
    from engine.streams.client import run_hijacked

    await run_hijacked(spec, reader, writer)


class _TailKeepingParser:
    """The parser uvicorn made, keeping the bytes after a head that asks for an upgrade."""

    def __init__(self, parser: httptools.HttpRequestParser) -> None:
        self._parser = parser
        self.tail = b""

    def feed_data(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade as exc:
            # httptools stops right after the head, before any body, and says where.
            self.tail = bytes(data[exc.args[0] :])
            raise

    def __getattr__(self, name: str) -> Any:
        return getattr(self._parser, name)


def _refusing_hijacks(app: ASGIApp) -> ASGIApp:
    """The app as uvicorn serves it: a view that would hijack a request that did not ask to
    upgrade gets a Docker-style error, not a 101 that nothing would follow."""

    async def served(scope: dict, receive, send) -> None:
        refused = False

        async def checked_send(message: dict) -> None:
            nonlocal refused
            if refused:
                return
            if message["type"] == "http.response.start" and message["status"] == 101:
                headers = message.get("headers", [])
                if any(bytes(name).lower() == HIJACK_HEADER for name, _ in headers):
                    refused = True
                    await send(
                        {
                            "type": "http.response.start",
                            "status": 400,
                            "headers": [
                                (b"content-type", b"application/json"),
                                (b"content-length", str(len(_NEEDS_UPGRADE)).encode()),
                            ],
                        }
                    )
                    await send({"type": "http.response.body", "body": _NEEDS_UPGRADE})
                    return
            await send(message)

        await app(scope, receive, checked_send)

    return served


class HijackingHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol; `Upgrade: tcp` requests go to the engine gateway's code.

    `hijack_handler` relays a hijacked connection; tests put their own in a subclass.
    """

    hijack_handler: HijackHandler = staticmethod(run_engine_stream)

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.parser = _TailKeepingParser(self.parser)
        self._engine_app = self.app
        self.app = _refusing_hijacks(self.app)
        # An upgrade that came in behind requests still being answered: its head and what
        # followed, kept until they are.
        self._held_upgrade: bytearray | None = None
        self._held_eof = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        watch_close_notify(transport)

    def data_received(self, data: bytes) -> None:
        if self._held_upgrade is not None:
            self._held_upgrade += data
            return
        super().data_received(data)

    def eof_received(self) -> bool | None:
        if self._held_upgrade is not None:
            # The client may half-close (stdin EOF) before its turn: the stream learns it then.
            self._held_eof = True
            return True
        return super().eof_received()

    def _should_upgrade(self) -> bool:
        return self._get_upgrade() == TCP_UPGRADE or super()._should_upgrade()

    def handle_websocket_upgrade(self) -> None:
        if self._get_upgrade() != TCP_UPGRADE:
            super().handle_websocket_upgrade()
            return
        request = self._request_head() + self.parser.tail
        if self.pipeline or (self.cycle is not None and not self.cycle.response_complete):
            # Pipelined behind other requests: the stream must not start inside their answers.
            self._held_upgrade = bytearray(request)
            self.flow.pause_reading()
            return
        self._hand_over(request)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if (
            self._held_upgrade is not None
            and not self.pipeline
            and self.cycle.response_complete
            and not self.transport.is_closing()
        ):
            self._unset_keepalive_if_required()
            request, self._held_upgrade = bytes(self._held_upgrade), None
            self._hand_over(request, eof=self._held_eof)

    def _request_head(self) -> bytes:
        version = self.scope["http_version"].encode()
        lines = [self.scope["method"].encode(), b" ", self.url, b" HTTP/", version, b"\r\n"]
        for name, value in self.scope["headers"]:
            lines += [name, b": ", value, b"\r\n"]
        lines.append(b"\r\n")
        return b"".join(lines)

    def _hand_over(self, request: bytes, eof: bool = False) -> None:
        """The connection becomes the gateway's: it parses `request` again and serves it."""
        self.connections.discard(self)
        self.flow.resume_reading()
        connection = HttpConnection(
            self._engine_app, self.hijack_handler, "tcp", _engine_connections
        )
        connection.connection_made(self.transport)
        self.transport.set_protocol(connection)
        connection.data_received(request)
        if eof:
            connection.eof_received()
        # uvicorn's shutdown waits for its tasks, then cancels them after its grace period:
        # a hijacked stream gets the same grace as a followed log, then closes.
        self.tasks.add(connection.task)
        connection.task.add_done_callback(self.tasks.discard)
