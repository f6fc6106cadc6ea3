"""The ASGI `receive` and `send` of one HTTP request on a gateway connection, through h11."""

from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import h11

if TYPE_CHECKING:
    from .connection import HttpConnection

_DISCONNECT = {"type": "http.disconnect"}
_REASONS = {status.value: status.phrase.encode() for status in HTTPStatus}


def reason(status: int) -> bytes:
    return _REASONS.get(status, b"")


class RequestCycle:
    """The ASGI `receive` and `send` of one request on a connection."""

    def __init__(self, connection: "HttpConnection", request: h11.Request) -> None:
        self._conn = connection
        self.target = request.target.decode("ascii", "replace")
        raw_path, _, query = request.target.partition(b"?")
        headers = list(request.headers)
        self.upgrade: bytes | None = next(
            (value.split(b",")[0].strip() for name, value in headers if name == b"upgrade"), None
        )
        self._head = request.method == b"HEAD"
        self.scope = {
            **connection.scope_base,
            "http_version": request.http_version.decode("ascii"),
            "method": request.method.decode("ascii"),
            "path": unquote(raw_path.decode("ascii")),
            "raw_path": raw_path,
            "query_string": query,
            "headers": headers,
        }
        self.started = False
        self.complete = False
        self.hijack_headers: list | None = None
        self._response: h11.Response | None = None
        self._body_done = False
        self._disconnected = False
        # Answered before the client, waiting for 100-continue, sent its body: the connection
        # cannot be reused, the body may or may not follow.
        self.body_declined = False
        self.bad_request: str | None = None
        self.head_sent = False

    async def receive(self) -> dict[str, Any]:
        conn = self._conn
        if not self._body_done and not self._disconnected:
            if conn.parser.they_are_waiting_for_100_continue and not self.started:
                conn.write(
                    [conn.parser.send(h11.InformationalResponse(status_code=100, headers=[]))]
                )
            try:
                event = await conn.next_event()
            except h11.RemoteProtocolError as exc:
                # The app sees the client go; the client, if still there, gets a 400.
                self.bad_request = f"bad request: {exc}"
                self._disconnected = True
                return _DISCONNECT
            if type(event) is h11.Data:
                return {"type": "http.request", "body": bytes(event.data), "more_body": True}
            self._body_done = True
            return {"type": "http.request", "body": b"", "more_body": False}
        while not (self._disconnected or self.complete or conn.gone(self.upgrade is not None)):
            await conn.wait()
        self._disconnected = True
        return _DISCONNECT

    async def send(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            if self.started:
                raise RuntimeError("http.response.start sent twice")
            self.started = True
            status = message["status"]
            headers = message.get("headers", [])
            if status == 101:
                self.hijack_headers = list(headers)
                return
            response = h11.Response(status_code=status, headers=headers, reason=reason(status))
            self.body_declined = self._conn.parser.they_are_waiting_for_100_continue
            if not self._conn.lost and self.bad_request is None:
                self._conn.hold(self._conn.parser.send(response))
                self.head_sent = True
            return
        if kind != "http.response.body":
            raise ValueError(f"unexpected ASGI message {kind!r}")
        if not self.started or self.complete:
            raise RuntimeError("http.response.body outside a response")
        more_body = message.get("more_body", False)
        if not more_body:
            self.complete = True
            self._conn.wake()
        if self.hijack_headers is not None or not self.head_sent or self._conn.lost:
            return
        h = self._conn.parser
        chunks: list[bytes] = []
        body = message.get("body", b"")
        if body and not self._head:
            chunks.extend(h.send_with_data_passthrough(h11.Data(data=body)))
        if not more_body:
            chunks.append(h.send(h11.EndOfMessage()))
        if chunks:
            self._conn.write(chunks)
            await self._conn.drain()
