"""The gateway answers the node administrator's pings itself; every other ping reaches the app."""

import http.client

import pytest

from engine.api.system import PING_HEADERS
from engine.gateway.admin_ping import answer_admin_pings

from .clients import UnixHTTPConnection
from .conftest import RunningGateway, StubApp, echo_after_eof


@pytest.fixture
def pinged(gateway_socket):
    stub = StubApp()
    running = RunningGateway(answer_admin_pings(stub), echo_after_eof, gateway_socket)
    running.stub = stub
    yield running
    running.stop()


def _ask(connection: http.client.HTTPConnection, method: str, path: str):
    connection.request(method, path)
    response = connection.getresponse()
    return response, response.read()


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [("HEAD", "/_ping", b""), ("GET", "/_ping", b"OK"), ("GET", "/v1.41/_ping", b"OK")],
)
def test_a_ping_on_the_socket_gets_dockerds_answer_without_the_app(pinged, method, path, body):
    response, read = _ask(UnixHTTPConnection(str(pinged.socket_path)), method, path)
    assert response.status == 200
    assert read == body
    assert {name: response.getheader(name) for name in PING_HEADERS} == PING_HEADERS
    assert pinged.stub.scopes == []


@pytest.mark.parametrize(("method", "path"), [("GET", "/v9.99/_ping"), ("POST", "/_ping")])
def test_a_ping_the_engine_would_refuse_goes_to_the_app(pinged, method, path):
    response, _ = _ask(UnixHTTPConnection(str(pinged.socket_path)), method, path)
    assert response.status == 404
    assert [s["path"] for s in pinged.stub.scopes] == [path]


def test_a_ping_over_tcp_goes_to_the_app_which_asks_who_is_calling(pinged):
    response, _ = _ask(http.client.HTTPConnection(*pinged.tcp_address), "HEAD", "/_ping")
    assert response.status == 404
    assert [s["path"] for s in pinged.stub.scopes] == ["/_ping"]
