"""Whether a service answers yet: the launcher's readiness checks, with the standard library
only (the launcher imports no Django and no client libraries, so it stays small)."""

import os
import socket
from pathlib import Path


def redis_answers(sock_path: Path) -> bool:
    """True when the redis server on `sock_path` answers PING."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(1)
            s.connect(str(sock_path))
            s.sendall(b"*1\r\n$4\r\nPING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def http_answers(host: str, port: int, path: str = "/") -> bool:
    """True when an HTTP server answers on host:port, whatever its status."""
    try:
        with socket.create_connection((reachable(host), port), timeout=2) as s:
            return _http_status(s, path) is not None
    except OSError:
        return False


def engine_answers(sock_path: Path) -> bool:
    """True when the engine socket answers GET /_ping with 200.

    A 404 also counts: the socket is served, the ping endpoint is just not there.
    """
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(2)
            s.connect(str(sock_path))
            return _http_status(s, "/_ping") in (200, 404)
    except OSError:
        return False


def _http_status(s: socket.socket, path: str) -> int | None:
    """The status of a GET on a connected socket, None if what answers is not HTTP.

    Read from the status line by hand: http.client would bring the TLS library into the
    launcher, 6 MB of a joined node's supervisor (bench/cluster.py), for a one-line answer.
    """
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".encode())
    line = s.makefile("rb").readline(256).split()
    if len(line) < 2 or not line[0].startswith(b"HTTP/") or not line[1].isdigit():
        return None
    return int(line[1])


def reachable(host: str) -> str:
    """The address to probe a server that listens on `host` (a wildcard is not reachable)."""
    return {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)


def pidfile_alive(path: Path) -> bool:
    """True when the process named in the pidfile `path` runs."""
    try:
        os.kill(int(path.read_text().strip()), 0)
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return False
    return True
