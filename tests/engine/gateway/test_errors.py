import json

from .clients import UnixHTTPConnection
from .conftest import read_until_eof


def _response(raw: bytes) -> tuple[bytes, dict]:
    head, _, body = raw.partition(b"\r\n\r\n")
    return head, json.loads(body)


def test_it_answers_malformed_http_with_a_docker_style_400(gateway):
    sock = gateway.connect()
    sock.sendall(b"NOT HTTP AT ALL\r\n\r\n")
    head, body = _response(read_until_eof(sock))
    sock.close()
    assert head.startswith(b"HTTP/1.1 400 ")
    assert b"content-type: application/json" in head.lower()
    assert body["message"].startswith("bad request")


def test_it_answers_an_invalid_chunked_body_with_400(gateway):
    sock = gateway.connect()
    sock.sendall(
        b"POST /ping HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nxx\r\n"
    )
    head, body = _response(read_until_eof(sock))
    sock.close()
    assert head.startswith(b"HTTP/1.1 400 ")
    assert body["message"].startswith("bad request")


def test_it_survives_an_app_that_raises(gateway):
    client = UnixHTTPConnection(str(gateway.socket_path))
    client.request("GET", "/boom")
    response = client.getresponse()
    assert response.status == 500
    assert json.loads(response.read()) == {"message": "internal server error"}
    client.close()
    client = UnixHTTPConnection(str(gateway.socket_path))
    client.request("GET", "/ping")
    assert client.getresponse().read() == b"OK"
    client.close()
