import shutil
import subprocess

import pytest

from .conftest import RunningGateway
from .docker_stub import CONTAINER, SERVER_VERSION, DockerStub, shout_stdin

DOCKER = shutil.which("docker") or "/usr/local/bin/docker"

pytestmark = pytest.mark.skipif(not shutil.which(DOCKER), reason="needs the docker CLI")


@pytest.fixture
def stub_gateway(gateway_socket):
    running = RunningGateway(DockerStub(), shout_stdin, gateway_socket)
    yield running
    running.stop()


def _docker(gateway, tmp_path, *args, stdin: bytes | None = None):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "DOCKER_CONFIG": str(tmp_path)}
    return subprocess.run(
        [DOCKER, "-H", f"unix://{gateway.socket_path}", *args],
        input=stdin,
        capture_output=True,
        env=env,
        timeout=30,
    )


def test_the_docker_cli_reads_the_server_version(stub_gateway, tmp_path):
    result = _docker(stub_gateway, tmp_path, "version", "--format", "{{.Server.Version}}")
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode().strip() == SERVER_VERSION


def test_docker_attach_sends_stdin_eof_and_reads_the_answer(stub_gateway, tmp_path):
    result = _docker(stub_gateway, tmp_path, "attach", CONTAINER, stdin=b"hello gateway\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"HELLO GATEWAY\n"
    assert ("POST", f"/containers/{CONTAINER}/attach") in stub_gateway.app.requests
