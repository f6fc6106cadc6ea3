import http.client
import json

from .clients import UnixHTTPConnection
from .conftest import read_until_eof


def test_it_serves_several_requests_on_one_unix_connection(gateway):
    client = UnixHTTPConnection(str(gateway.socket_path))
    for i in range(5):
        client.request("POST", f"/echo?n={i}", body=f"body {i}")
        response = client.getresponse()
        assert response.status == 200
        assert json.loads(response.read()) == {
            "method": "POST",
            "path": "/echo",
            "query": f"n={i}",
            "body": f"body {i}",
            "transport": "unix",
        }
    first_socket = client.sock
    client.request("GET", "/ping")
    assert client.getresponse().read() == b"OK"
    assert client.sock is first_socket
    client.close()


def test_it_answers_pipelined_requests_in_order(gateway):
    sock = gateway.connect()
    sock.sendall(
        b"GET /echo?n=1 HTTP/1.1\r\nHost: x\r\n\r\n"
        b"POST /echo?n=2 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
        b"GET /echo?n=3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    raw = read_until_eof(sock)
    sock.close()
    bodies = [json.loads(part.split(b"\r\n\r\n", 1)[1]) for part in raw.split(b"HTTP/1.1 ")[1:]]
    assert [(b["query"], b["body"]) for b in bodies] == [("n=1", ""), ("n=2", "abc"), ("n=3", "")]


def test_it_marks_tcp_clients_for_authentication(gateway):
    host, port = gateway.tcp_address
    client = http.client.HTTPConnection(host, port, timeout=10)
    client.request("GET", "/echo")
    assert json.loads(client.getresponse().read())["transport"] == "tcp"
    client.close()
    scope = gateway.app.scopes[-1]
    assert scope["client"][0] == "127.0.0.1"
    assert scope["server"] == (host, port)


def test_it_gives_unix_clients_a_scope_django_accepts(gateway):
    client = UnixHTTPConnection(str(gateway.socket_path))
    client.request("GET", "/echo/%7Bid%7D?all=1", headers={"X-Registry-Auth": "e30="})
    client.getresponse().read()
    client.close()
    scope = gateway.app.scopes[-1]
    assert scope["type"] == "http"
    assert scope["asgi"]["version"] == "3.0"
    assert scope["http_version"] == "1.1"
    assert scope["scheme"] == "http"
    assert scope["path"] == "/echo/{id}"
    assert scope["raw_path"] == b"/echo/%7Bid%7D"
    assert scope["query_string"] == b"all=1"
    assert (b"x-registry-auth", b"e30=") in scope["headers"]
    assert scope["server"] == ("localhost", 0)
    assert scope["dockyard.transport"] == "unix"
    assert scope["dockyard.peer"]["pid"] > 0
