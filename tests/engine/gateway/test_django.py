import json
import socket

import pytest
from django.core.asgi import get_asgi_application

from .clients import UnixHTTPConnection
from .conftest import RunningGateway, echo_after_eof, read_head, read_until_eof


@pytest.fixture
def django_gateway(settings, gateway_socket):
    settings.ROOT_URLCONF = "tests.engine.gateway.django_urls"
    running = RunningGateway(get_asgi_application(), echo_after_eof, gateway_socket)
    yield running
    running.stop()


def test_a_django_view_hijacks_the_connection(django_gateway):
    sock = django_gateway.connect()
    body = b'{"Detach": false, "Tty": false}'
    sock.sendall(
        b"POST /v1.47/exec/abc123/start HTTP/1.1\r\nHost: api.moby.localhost\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n"
        % len(body)
        + b"Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n"
        + body
    )
    head, rest = read_head(sock)
    assert head.startswith(b"HTTP/1.1 101 UPGRADED\r\n")
    sock.sendall(b"stdin")
    sock.shutdown(socket.SHUT_WR)
    assert read_until_eof(sock, rest) == b"hello abc123\ngot:stdin"
    sock.close()


def test_django_streams_a_response_and_reads_a_chunked_body(django_gateway):
    client = UnixHTTPConnection(str(django_gateway.socket_path))
    client.request("GET", "/v1.47/containers/abc/logs?follow=1")
    response = client.getresponse()
    assert response.getheader("Transfer-Encoding") == "chunked"
    assert response.read() == b"line 0\nline 1\nline 2\n"
    client.request("POST", "/v1.47/images/load", body=iter([b"a" * 70000] * 3))
    response = client.getresponse()
    assert json.loads(response.read()) == {"bytes": 210000}
    client.close()
