import json
import threading
import tracemalloc

from .conftest import read_head

MIB = 1024 * 1024


def _send_chunked(sock, total: int) -> None:
    block = b"x" * MIB
    sock.sendall(
        b"PUT /upload HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-tar\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    for _ in range(total // MIB):
        sock.sendall(b"%x\r\n" % len(block) + block + b"\r\n")
    sock.sendall(b"0\r\n\r\n")


def test_it_streams_a_50_mb_chunked_upload_to_the_app_in_pieces(gateway):
    total = 50 * MIB
    sock = gateway.connect()
    tracemalloc.start()
    try:
        sender = threading.Thread(target=_send_chunked, args=(sock, total))
        sender.start()
        head, rest = read_head(sock)
        sender.join()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert head.startswith(b"HTTP/1.1 200 ")
    while len(rest) < int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0]):
        rest += sock.recv(65536)
    sock.close()
    assert json.loads(rest) == {"bytes": total}
    pieces = gateway.app.upload_pieces
    assert len(pieces) > 50
    assert max(pieces) <= MIB + 64 * 1024
    # The block the client sends over and over plus one piece in flight: never the upload.
    assert peak < 8 * MIB


def test_it_streams_a_content_length_upload(gateway):
    total = 8 * MIB
    sock = gateway.connect()
    sock.sendall(b"PUT /upload HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % total)
    block = b"y" * MIB
    for _ in range(total // MIB):
        sock.sendall(block)
    head, rest = read_head(sock)
    while not rest.endswith(b"}"):
        rest += sock.recv(65536)
    sock.close()
    assert json.loads(rest) == {"bytes": total}
    assert len(gateway.app.upload_pieces) > 8


def test_it_answers_expect_100_continue_before_the_body_is_sent(gateway):
    sock = gateway.connect()
    sock.sendall(
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"
    )
    head, rest = read_head(sock)
    assert head.startswith(b"HTTP/1.1 100 ")
    sock.sendall(b"hello")
    while not rest.endswith(b"}"):
        rest += sock.recv(65536)
    sock.close()
    head, _, body = rest.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    assert json.loads(body)["body"] == "hello"
