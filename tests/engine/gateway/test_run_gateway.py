import http.client
import os
import signal
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from engine.api.base import API_VERSION

from .clients import UnixHTTPConnection

MANAGE = Path(__file__).resolve().parents[3] / "manage.py"


def _start(path: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(MANAGE), "run_gateway", "--socket", str(path), "--tcp", "127.0.0.1:0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        text=True,
    )


@pytest.fixture
def stale_socket(gateway_socket) -> Path:
    """A socket file whose server died without removing it."""
    gateway_socket.parent.joinpath("run").mkdir()
    path = gateway_socket.parent / "run" / "docker.sock"
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(path))
    dead.close()
    yield path
    path.unlink(missing_ok=True)
    path.parent.rmdir()


def test_run_gateway_serves_django_on_the_socket_until_sigterm(stale_socket):
    process = _start(stale_socket)
    try:
        assert process.stdout.readline().strip() == f"engine API on unix://{stale_socket}"
        tcp_line = process.stdout.readline().strip()
        assert tcp_line.startswith("engine API on tcp://127.0.0.1:")
        assert stat.S_IMODE(stale_socket.stat().st_mode) == 0o660
        client = UnixHTTPConnection(str(stale_socket))
        client.request("GET", "/no/such/endpoint")
        response = client.getresponse()
        response.read()
        client.close()
        assert response.status == 404
        assert response.getheader("X-Frame-Options") == "DENY"
        client.request("HEAD", "/_ping")
        response = client.getresponse()
        response.read()
        assert response.status == 200
        assert response.getheader("API-Version") == API_VERSION
        # The administrator's ping is answered before Django; a stranger's over TCP is not.
        host, port = tcp_line.removeprefix("engine API on tcp://").rsplit(":", 1)
        stranger = http.client.HTTPConnection(host, int(port), timeout=10)
        stranger.request("HEAD", "/_ping")
        response = stranger.getresponse()
        response.read()
        stranger.close()
        assert response.status == 401
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
        assert not stale_socket.exists()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_run_gateway_refuses_to_take_a_live_socket(gateway):
    process = _start(gateway.socket_path)
    _, err = process.communicate(timeout=60)
    assert process.returncode != 0
    assert "another engine gateway is serving" in err
    assert gateway.socket_path.is_socket()
