from .conftest import read_head


def test_it_answers_head_with_headers_and_no_body(gateway):
    sock = gateway.connect()
    sock.sendall(b"HEAD /ping HTTP/1.1\r\nHost: x\r\n\r\nGET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
    head, rest = read_head(sock)
    assert head.startswith(b"HTTP/1.1 200 OK")
    assert b"content-length: 2" in head.lower()
    # The very next bytes are the second response: HEAD sent no body.
    while b"\r\n\r\nOK" not in rest:
        rest += sock.recv(65536)
    sock.close()
    assert rest.startswith(b"HTTP/1.1 200 OK")
