import socket

import docker
import pytest

from .conftest import RunningGateway
from .docker_stub import API_VERSION, CONTAINER, SERVER_VERSION, DockerStub, shout_stdin


@pytest.fixture
def client(gateway_socket):
    running = RunningGateway(DockerStub(), shout_stdin, gateway_socket)
    client = docker.DockerClient(base_url=f"unix://{gateway_socket}", version="auto")
    yield client
    client.close()
    running.stop()


def test_docker_py_reads_the_server_version(client):
    assert client.version()["Version"] == SERVER_VERSION
    assert client.api.api_version == API_VERSION
    assert client.ping() is True


def test_docker_py_attach_socket_is_a_half_closable_raw_stream(client):
    attached = client.api.attach_socket(CONTAINER, params={"stdin": 1, "stdout": 1, "stream": 1})
    raw = attached._sock
    raw.sendall(b"from docker-py")
    raw.shutdown(socket.SHUT_WR)
    data = b""
    while chunk := raw.recv(65536):
        data += chunk
    attached.close()
    assert data == b"\x01\x00\x00\x00\x00\x00\x00\x0eFROM DOCKER-PY"
