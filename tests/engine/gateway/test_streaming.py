import time

from .clients import UnixHTTPConnection


def test_it_delivers_each_chunk_while_the_app_is_still_streaming(gateway):
    client = UnixHTTPConnection(str(gateway.socket_path))
    client.request("GET", "/stream")
    response = client.getresponse()
    assert response.getheader("Transfer-Encoding") == "chunked"
    assert response.read1() == b"first\n"
    assert not gateway.app.stream_finished.is_set()
    gateway.app.release.set()
    assert response.read() == b"second\n"
    client.close()


def test_it_tells_the_app_when_a_following_client_goes_away(gateway):
    client = UnixHTTPConnection(str(gateway.socket_path))
    client.request("GET", "/forever")
    response = client.getresponse()
    assert response.read1().startswith(b"tick\n")
    client.close()
    response.close()
    assert gateway.app.disconnected.wait(5)
    # The connection is gone, the server is not.
    time.sleep(0.05)
    client = UnixHTTPConnection(str(gateway.socket_path))
    client.request("GET", "/ping")
    assert client.getresponse().read() == b"OK"
    client.close()
