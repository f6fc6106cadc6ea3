import json
import socket

from .conftest import read_head, read_until_eof

ATTACH = (
    b"POST /attach?stream=1&stdin=1&stdout=1 HTTP/1.1\r\nHost: api.moby.localhost\r\n"
    b"Content-Type: text/plain\r\n"
)


def test_it_hands_an_upgraded_connection_to_the_handler_with_half_close(gateway):
    sock = gateway.connect()
    # Stdin that arrives with the request must not be lost in the HTTP parser.
    sock.sendall(ATTACH + b"Connection: Upgrade\r\nUpgrade: tcp\r\n\r\nearly ")
    head, rest = read_head(sock)
    assert head == (
        b"HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\n"
        b"Connection: Upgrade\r\nUpgrade: tcp"
    )
    while not rest.endswith(b"\n"):
        rest += sock.recv(65536)
    assert rest == b"hello c0ffee\n"
    sock.sendall(b"stdin data")
    sock.shutdown(socket.SHUT_WR)
    assert read_until_eof(sock) == b"got:early stdin data"
    sock.close()


def test_it_answers_200_to_a_hijack_without_upgrade(gateway):
    sock = gateway.connect()
    sock.sendall(ATTACH + b"\r\n")
    head, rest = read_head(sock)
    assert head.split(b"\r\n")[:2] == [
        b"HTTP/1.1 200 OK",
        b"Content-Type: application/vnd.docker.raw-stream",
    ]
    assert b"keep-alive" not in head.lower()
    sock.shutdown(socket.SHUT_WR)
    assert read_until_eof(sock, rest) == b"hello c0ffee\ngot:"
    sock.close()


def test_it_keeps_the_connection_when_the_app_declines_an_upgrade(gateway):
    sock = gateway.connect()
    sock.sendall(
        b"POST /containers/nope/attach HTTP/1.1\r\nHost: x\r\n"
        b"Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n"
    )
    head, rest = read_head(sock)
    assert head.startswith(b"HTTP/1.1 404 ")
    while not rest.endswith(b"}"):
        rest += sock.recv(65536)
    assert json.loads(rest) == {"message": "page not found: /containers/nope/attach"}
    sock.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
    head, rest = read_head(sock)
    assert head.startswith(b"HTTP/1.1 200 ")
    sock.close()


def test_it_hijacks_after_a_request_body_like_exec_start(gateway):
    sock = gateway.connect()
    body = b'{"Detach":false,"Tty":false}'
    sock.sendall(
        ATTACH
        + b"Content-Type: application/json\r\nContent-Length: %d\r\n" % len(body)
        + b"Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n"
        + body
        + b"stdin right behind the body"
    )
    sock.shutdown(socket.SHUT_WR)
    head, rest = read_head(sock)
    assert head.startswith(b"HTTP/1.1 101 UPGRADED\r\n")
    assert read_until_eof(sock, rest) == b"hello c0ffee\ngot:stdin right behind the body"
    sock.close()
