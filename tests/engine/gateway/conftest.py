"""A gateway on a background event loop, serving a tiny ASGI app, for real clients to hit."""

import asyncio
import json
import os
import socket
import threading
import uuid
from pathlib import Path

import pytest

from engine.gateway import GatewayServer

HIJACK_SPEC = {"container": "c0ffee", "stdin": True}


class StubApp:
    """Answers a handful of paths the way the tests need; records what it saw."""

    def __init__(self) -> None:
        self.scopes: list[dict] = []
        self.upload_pieces: list[int] = []
        self.release = threading.Event()
        self.stream_finished = threading.Event()
        self.disconnected = threading.Event()

    async def __call__(self, scope, receive, send):
        self.scopes.append(scope)
        route = getattr(self, "route_" + scope["path"].strip("/").replace("/", "_"), None)
        if route is None:
            await self.respond(send, 404, {"message": f"page not found: {scope['path']}"})
            return
        await route(scope, receive, send)

    @staticmethod
    async def read_body(receive) -> bytes:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                return body

    @staticmethod
    async def respond(send, status: int, payload, headers=()) -> None:
        body = json.dumps(payload).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    *headers,
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def route_ping(self, scope, receive, send):
        await self.read_body(receive)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", b"2")],
            }
        )
        await send({"type": "http.response.body", "body": b"OK"})

    async def route_echo(self, scope, receive, send):
        body = await self.read_body(receive)
        await self.respond(
            send,
            200,
            {
                "method": scope["method"],
                "path": scope["path"],
                "query": scope["query_string"].decode(),
                "body": body.decode(),
                "transport": scope["dockyard.transport"],
            },
        )

    async def route_upload(self, scope, receive, send):
        # Slow start: the client must be held back, not buffered.
        await asyncio.sleep(0.3)
        total = 0
        while True:
            message = await receive()
            piece = len(message.get("body", b""))
            self.upload_pieces.append(piece)
            total += piece
            if not message.get("more_body"):
                break
        await self.respond(send, 200, {"bytes": total})

    async def route_stream(self, scope, receive, send):
        await self.read_body(receive)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"first\n", "more_body": True})
        while not self.release.is_set():
            await asyncio.sleep(0.01)
        await send({"type": "http.response.body", "body": b"second\n", "more_body": True})
        self.stream_finished.set()
        await send({"type": "http.response.body", "body": b""})

    async def route_forever(self, scope, receive, send):
        await self.read_body(receive)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        disconnect = asyncio.ensure_future(receive())
        while not disconnect.done():
            await send({"type": "http.response.body", "body": b"tick\n", "more_body": True})
            await asyncio.sleep(0.01)
        assert disconnect.result() == {"type": "http.disconnect"}
        self.disconnected.set()

    async def route_boom(self, scope, receive, send):
        raise RuntimeError("the view broke")

    async def route_attach(self, scope, receive, send):
        await self.read_body(receive)
        await send(
            {
                "type": "http.response.start",
                "status": 101,
                "headers": [(b"x-dockyard-hijack", json.dumps(HIJACK_SPEC).encode())],
            }
        )
        await send({"type": "http.response.body", "body": b""})


async def echo_after_eof(spec, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
    """Greets at once, then echoes everything read once the client half-closes."""
    writer.write(b"hello " + spec["container"].encode() + b"\n")
    await writer.drain()
    data = await reader.read()
    writer.write(b"got:" + data)
    await writer.drain()


class RunningGateway:
    def __init__(self, app, hijack_handler, socket_path: Path) -> None:
        self.app = app
        self.socket_path = socket_path
        self.loop = asyncio.new_event_loop()
        self.gateway = GatewayServer(app, hijack_handler)
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self.call(self.gateway.serve_unix(socket_path))
        self.tcp_address = self.call(self.gateway.serve_tcp("127.0.0.1", 0))

    def call(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=30)

    def connect(self) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(10)
        sock.connect(str(self.socket_path))
        return sock

    def stop(self) -> None:
        async def shut():
            self.gateway.close()
            await self.gateway.wait_closed()

        self.call(shut())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()


@pytest.fixture
def gateway_socket() -> Path:
    run = Path(os.environ["DOCKYARD_RUN_DIR"]) / f"gw-{uuid.uuid4().hex[:8]}"
    run.mkdir()
    yield run / "docker.sock"
    for child in run.iterdir():
        child.unlink()
    run.rmdir()


@pytest.fixture
def gateway(gateway_socket):
    running = RunningGateway(StubApp(), echo_after_eof, gateway_socket)
    yield running
    running.stop()


def read_head(sock: socket.socket) -> tuple[bytes, bytes]:
    """The response head up to the blank line, and whatever came after it."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed after {data!r}")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


def read_until_eof(sock: socket.socket, initial: bytes = b"") -> bytes:
    data = initial
    while chunk := sock.recv(65536):
        data += chunk
    return data
