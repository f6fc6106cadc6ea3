"""The web port's protocol: a real uvicorn server, run as `dockyard.web` runs it, serving a
fake app whose routes answer the way the engine API's views do."""

import asyncio
import json
import shutil
import socket
import ssl
import threading
import time

import httptools
import pytest
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState
from websockets.sync.client import connect as websocket_connect

from dockyard.ephemeral import self_signed_certificate
from dockyard.web import web_options
from engine.gateway.web_protocol import HijackingHttpToolsProtocol

from .clients import TcpClient, TlsClient

BODY = b'{"Detach":false,"Tty":false}'
UPGRADE = b"Connection: Upgrade\r\nUpgrade: tcp\r\n"


def hijack_request(path: bytes = b"/hijack", body: bytes = BODY, upgrade: bytes = UPGRADE):
    return (
        b"POST " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n" % len(body) + upgrade + b"\r\n" + body
    )


class FakeEngine:
    """Routes shaped like the engine API's: a view that hijacks, one that declines."""

    def __init__(self) -> None:
        self.scopes: list[dict] = []
        self.release = threading.Event()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "websocket":
            await self.websocket(receive, send)
            return
        self.scopes.append(scope)
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        if scope["path"] == "/hijack":
            spec = {"body": body.decode(), "forever": scope["query_string"] == b"forever"}
            await send(
                {
                    "type": "http.response.start",
                    "status": 101,
                    "headers": [(b"X-Dockyard-Hijack", json.dumps(spec).encode())],
                }
            )
            await send({"type": "http.response.body", "body": b""})
            return
        if scope["path"] == "/slow":
            await asyncio.to_thread(self.release.wait, 10)
        status = 404 if scope["path"] == "/missing" else 200
        payload = {"message": "No such container: missing"} if status == 404 else {}
        payload.update(method=scope["method"], path=scope["path"], body=body.decode())
        data = json.dumps(payload).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(data)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": data})

    @staticmethod
    async def websocket(receive, send) -> None:
        assert (await receive())["type"] == "websocket.connect"
        await send({"type": "websocket.accept"})
        while True:
            message = await receive()
            if message["type"] != "websocket.receive":
                return
            await send({"type": "websocket.send", "text": "pong:" + message["text"]})


async def relay(spec: dict, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Shows the request body the view saw, then every byte of stdin once it ends."""
    writer.write(b"body=" + spec["body"].encode() + b"\n")
    await writer.drain()
    if spec["forever"]:
        await asyncio.Event().wait()
    stdin = await reader.read()
    writer.write(b"stdin=" + stdin)
    await writer.drain()


class RunningWeb:
    """uvicorn with `dockyard.web`'s options on a thread of its own, on a free port."""

    def __init__(self, app: FakeEngine, tls: tuple[str, str] | None) -> None:
        self.app = app
        self.cert = tls[1] if tls else None
        protocol = type(
            "RelayingProtocol",
            (HijackingHttpToolsProtocol,),
            {"hijack_handler": staticmethod(relay)},
        )
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.address = sock.getsockname()[:2]
        options = web_options(
            port=self.address[1],
            tls_key=tls[0] if tls else None,
            tls_cert=self.cert,
            http=protocol,
        )
        options["timeout_graceful_shutdown"] = 0.5
        self.server = uvicorn.Server(uvicorn.Config(app, log_config=None, **options))
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [sock]}, daemon=True
        )
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert self.thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.01)

    def connect(self) -> TcpClient:
        if self.cert:
            return TlsClient(self.address, cafile=self.cert)
        return TcpClient(self.address)

    def url(self, path: str, scheme: str) -> str:
        secure = "s" if self.cert else ""
        return f"{scheme}{secure}://127.0.0.1:{self.address[1]}{path}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        assert not self.thread.is_alive(), "uvicorn did not stop"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    if shutil.which("openssl") is None:
        pytest.skip("needs openssl")
    key, cert = self_signed_certificate(tmp_path_factory.mktemp("tls"))
    return str(key), str(cert)


@pytest.fixture(params=["tcp", "tls"])
def web(request):
    tls = request.getfixturevalue("certificate") if request.param == "tls" else None
    running = RunningWeb(FakeEngine(), tls)
    yield running
    running.app.release.set()
    running.stop()


@pytest.fixture
def plain_web():
    running = RunningWeb(FakeEngine(), None)
    yield running
    running.app.release.set()
    running.stop()


def read_head(client: TcpClient, data: bytes = b"") -> tuple[bytes, bytes]:
    while b"\r\n\r\n" not in data:
        chunk = client.recv()
        if not chunk:
            raise ConnectionError(f"closed after {data!r}")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


def read_json(client: TcpClient, data: bytes = b"") -> tuple[bytes, dict, bytes]:
    head, rest = read_head(client, data)
    length = int(next(line for line in head.lower().split(b"\r\n") if b"content-length" in line)
                 .split(b":")[1])  # fmt: skip
    while len(rest) < length:
        rest += client.recv()
    return head, json.loads(rest[:length]), rest[length:]


def read_until_eof(client: TcpClient, data: bytes = b"") -> bytes:
    while chunk := client.recv():
        data += chunk
    return data


def test_an_upgraded_request_reaches_the_stream_with_every_byte(web):
    client = web.connect()
    request = hijack_request() + b"early stdin, "
    # The head in pieces: what follows it must be kept whichever read it came in.
    for piece in (request[:20], request[20:90], request[90:]):
        client.sendall(piece)
    client.sendall(b"later stdin")
    head, rest = read_head(client)
    assert head == (
        b"HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\n"
        b"Connection: Upgrade\r\nUpgrade: tcp"
    )
    while not rest.endswith(b"\n"):
        rest += client.recv()
    assert rest == b"body=" + BODY + b"\n"
    # The docker CLI ends stdin by half-closing; over TLS with close_notify, as Go does.
    client.shutdown_write()
    assert read_until_eof(client) == b"stdin=early stdin, later stdin"
    client.close()
    [scope] = web.app.scopes
    assert scope["scheme"] == ("https" if web.cert else "http")
    assert scope["dockyard.transport"] == "tcp"
    assert scope["client"][0] == "127.0.0.1"


def test_a_websocket_upgrade_still_works(web):
    context = ssl.create_default_context(cafile=web.cert) if web.cert else None
    with websocket_connect(web.url("/ws", "ws"), ssl=context, open_timeout=10) as ws:
        ws.send("ping")
        assert ws.recv(timeout=10) == "pong:ping"


def test_an_unsupported_upgrade_is_served_as_plain_http(plain_web):
    client = plain_web.connect()
    client.sendall(
        b"GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade, HTTP2-Settings\r\n"
        b"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n"
    )
    head, payload, _ = read_json(client)
    assert head.startswith(b"HTTP/1.1 200 ")
    assert payload == {"method": "GET", "path": "/echo", "body": ""}
    # uvicorn answered it: the gateway's connection marks its scopes.
    assert "dockyard.transport" not in plain_web.app.scopes[0]
    client.close()


def test_a_hijack_without_an_upgrade_answers_a_docker_error(plain_web):
    client = plain_web.connect()
    client.sendall(hijack_request(upgrade=b""))
    head, payload, _ = read_json(client)
    assert head.startswith(b"HTTP/1.1 400 ")
    assert b"content-type: application/json" in head.lower()
    assert "Upgrade: tcp" in payload["message"]
    client.close()


def test_a_declined_upgrade_answers_and_keeps_the_connection(plain_web):
    client = plain_web.connect()
    client.sendall(hijack_request(path=b"/missing"))
    head, payload, rest = read_json(client)
    assert head.startswith(b"HTTP/1.1 404 ")
    assert payload["message"] == "No such container: missing"
    assert payload["body"] == BODY.decode()
    client.sendall(b"GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    head, payload, _ = read_json(client, rest)
    assert head.startswith(b"HTTP/1.1 200 ") and payload["path"] == "/echo"
    client.close()


def test_an_upgrade_pipelined_behind_a_request_waits_for_its_answer(plain_web):
    client = plain_web.connect()
    client.sendall(
        b"GET /slow HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" + hijack_request() + b"piped stdin"
    )
    client.shutdown_write()
    plain_web.app.release.set()
    head, payload, rest = read_json(client)
    assert head.startswith(b"HTTP/1.1 200 ") and payload["path"] == "/slow"
    head, rest = read_head(client, rest)
    assert head.startswith(b"HTTP/1.1 101 UPGRADED\r\n")
    assert read_until_eof(client, rest) == b"body=" + BODY + b"\nstdin=piped stdin"
    client.close()


def test_shutdown_closes_a_stream_that_never_ends(plain_web):
    client = plain_web.connect()
    client.sendall(hijack_request(path=b"/hijack?forever"))
    head, rest = read_head(client)
    assert head.startswith(b"HTTP/1.1 101 ")
    plain_web.stop()
    assert read_until_eof(client, rest) == b"body=" + BODY + b"\n"
    client.close()


# What the protocol relies on in httptools and uvicorn: these fail first if either changes.


def test_httptools_stops_right_after_the_head_of_an_upgrade():
    seen: list[str] = []

    class Callbacks:
        def on_headers_complete(self) -> None:
            seen.append("head")

        def on_body(self, body: bytes) -> None:
            seen.append("body")

    request = hijack_request() + b"stdin"
    parser = httptools.HttpRequestParser(Callbacks())
    with pytest.raises(httptools.HttpParserUpgrade) as raised:
        parser.feed_data(request)
    assert request[raised.value.args[0] :] == BODY + b"stdin"
    assert seen == ["head"]


class FakeTransport:
    def __init__(self) -> None:
        self.protocol = None
        self.written = b""

    def get_extra_info(self, name: str, default=None):
        return {"peername": ("127.0.0.1", 40000), "sockname": ("127.0.0.1", 8000)}.get(
            name, default
        )

    def set_protocol(self, protocol) -> None:
        self.protocol = protocol

    def write(self, data: bytes) -> None:
        self.written += data

    def is_closing(self) -> bool:
        return False

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def close(self) -> None:
        pass


def test_uvicorn_hands_an_upgrade_to_the_protocol_before_starting_a_request():
    handed: list[bytes] = []

    class Recording(HijackingHttpToolsProtocol):
        def _hand_over(self, request: bytes, eof: bool = False) -> None:
            handed.append(request)

    async def scenario() -> ServerState:
        config = uvicorn.Config(FakeEngine(), log_config=None, ws="websockets-sansio")
        config.load()
        state = ServerState()
        protocol = Recording(config, state, {})
        protocol.connection_made(FakeTransport())
        protocol.data_received(hijack_request() + b"stdin")
        return state

    state = asyncio.run(scenario())
    # The head comes back as uvicorn keeps it (names in lower case), the rest byte for byte.
    head, _, body = hijack_request().partition(b"\r\n\r\n")
    request_line, *fields = head.split(b"\r\n")
    lowered = [
        name.lower() + b":" + value for name, _, value in (f.partition(b":") for f in fields)
    ]
    assert handed == [b"\r\n".join([request_line, *lowered, b"", body]) + b"stdin"]
    # No request of uvicorn's own was started for it.
    assert not state.tasks
    # An upgrade held behind earlier requests goes on once uvicorn says they are answered.
    for hook in ("on_response_complete", "_unset_keepalive_if_required", "_get_upgrade"):
        assert callable(getattr(HttpToolsProtocol, hook, None)), f"uvicorn has no {hook}()"
