"""A TLS client's close_notify reaches the protocol as a TCP half-close would, on uvloop.

These tests pin what `engine.gateway.tls` relies on in uvloop's TLS transport: it reads
through the context's `sslobject_class`, and takes SSLWantReadError for "nothing yet".
"""

import asyncio
import shutil
import ssl
import threading

import pytest
import uvloop

from dockyard.ephemeral import self_signed_certificate
from engine.gateway.tls import HalfClosingSSLObject, watch_close_notify

from .clients import TlsClient

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")


class Replier(asyncio.Protocol):
    """Collects what the client sends; once it half-closes, answers and closes."""

    keep_open = True

    def connection_made(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        self.received = b""
        watch_close_notify(transport)

    def data_received(self, data: bytes) -> None:
        self.received += data

    def eof_received(self) -> bool:
        if self.keep_open:
            asyncio.get_running_loop().call_later(0.05, self.reply)
        return self.keep_open

    def reply(self) -> None:
        self.transport.write(b"got:" + self.received)
        self.transport.close()


class Closer(Replier):
    keep_open = False


class TlsServer:
    def __init__(self, protocol: type[asyncio.Protocol], key, cert) -> None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        context.sslobject_class = HalfClosingSSLObject
        self.loop = uvloop.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

        async def listen():
            return await asyncio.get_running_loop().create_server(
                protocol, "127.0.0.1", 0, ssl=context
            )

        self.server = asyncio.run_coroutine_threadsafe(listen(), self.loop).result(timeout=10)
        self.address = self.server.sockets[0].getsockname()[:2]

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.server.close)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    key, cert = self_signed_certificate(tmp_path_factory.mktemp("tls"))
    return str(key), str(cert)


def read_all(client: TlsClient) -> bytes:
    data = b""
    while chunk := client.recv():
        data += chunk
    return data


def test_a_client_that_half_closed_still_gets_the_answer(certificate):
    key, cert = certificate
    server = TlsServer(Replier, key, cert)
    try:
        client = TlsClient(server.address, cafile=cert)
        client.sendall(b"stdin data")
        client.shutdown_write()
        assert read_all(client) == b"got:stdin data"
        client.close()
    finally:
        server.stop()


def test_a_protocol_that_does_not_keep_a_half_closed_connection_closes_it(certificate):
    key, cert = certificate
    server = TlsServer(Closer, key, cert)
    try:
        client = TlsClient(server.address, cafile=cert)
        client.sendall(b"stdin data")
        client.shutdown_write()
        assert read_all(client) == b""
        client.close()
    finally:
        server.stop()


def test_without_the_hook_uvloop_still_drops_writes_after_close_notify(certificate):
    """Why the hook exists; if this fails, uvloop half-closes by itself and tls.py can go."""
    key, cert = certificate

    class Unwatched(Replier):
        def connection_made(self, transport: asyncio.Transport) -> None:
            self.transport = transport
            self.received = b""

    server = TlsServer(Unwatched, key, cert)
    try:
        client = TlsClient(server.address, cafile=cert)
        client.sendall(b"stdin data")
        client.shutdown_write()
        assert read_all(client) == b""
        client.close()
    finally:
        server.stop()
