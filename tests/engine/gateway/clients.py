import http.client
import socket
import ssl


class UnixHTTPConnection(http.client.HTTPConnection):
    """The standard library's HTTP client, dialing a unix socket."""

    def __init__(self, path: str, timeout: float = 10) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self._path)


class TcpClient:
    """A plain TCP client that can stop sending and go on reading, like the docker CLI."""

    def __init__(self, address: tuple[str, int], timeout: float = 10) -> None:
        self._sock = socket.create_connection(address, timeout=timeout)

    def sendall(self, data: bytes) -> None:
        self._sock.sendall(data)

    def recv(self, size: int = 65536) -> bytes:
        return self._sock.recv(size)

    def shutdown_write(self) -> None:
        self._sock.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self._sock.close()


class TlsClient(TcpClient):
    """TLS over a socket, ending its side with close_notify as Go's tls.Conn.CloseWrite does.

    The standard library's SSLSocket cannot: its unwrap() waits for the server's close_notify.
    """

    def __init__(self, address: tuple[str, int], cafile: str, timeout: float = 10) -> None:
        super().__init__(address, timeout)
        context = ssl.create_default_context(cafile=cafile)
        self._incoming, self._outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self._tls = context.wrap_bio(self._incoming, self._outgoing, server_hostname=address[0])
        while True:
            try:
                self._tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                self._flush()
                if not self._fill():
                    raise ConnectionError("closed during the TLS handshake") from None
        self._flush()

    def _flush(self) -> None:
        data = self._outgoing.read()
        if data:
            self._sock.sendall(data)

    def _fill(self) -> bool:
        raw = self._sock.recv(65536)
        if not raw:
            self._incoming.write_eof()
            return False
        self._incoming.write(raw)
        return True

    def sendall(self, data: bytes) -> None:
        self._tls.write(data)
        self._flush()

    def recv(self, size: int = 65536) -> bytes:
        """Decrypted bytes; b"" once the server sent close_notify (an EOF without one raises)."""
        while True:
            try:
                data = self._tls.read(size)
                self._flush()
                return data
            except ssl.SSLWantReadError:
                self._flush()
                self._fill()
            except ssl.SSLZeroReturnError:
                return b""

    def shutdown_write(self) -> None:
        try:
            self._tls.unwrap()
        except ssl.SSLWantReadError:
            pass
        self._flush()
