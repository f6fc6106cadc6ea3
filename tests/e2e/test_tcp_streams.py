"""A team user's docker CLI on the web port, over TCP and TLS, with a personal access token.

attach, exec and run stream over the request's own connection (a hijack); the web port
serves them as the admin socket does. The user is no admin, so every container here is theirs.
"""

import json
import os
import pty
import secrets
import select
import shutil
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

from dockyard.ephemeral import (
    ephemeral_platform,
    free_port,
    remove_all_containers,
    self_signed_certificate,
)
from dockyard.services import Service

pytestmark = [pytest.mark.e2e, pytest.mark.privileged]

SETUP = """
from django.contrib.auth.models import User
from accounts.services import do_create_token
user = User.objects.create_user("dev", password="dev-pw-1")
print(do_create_token(user, "cli", ["read", "write"])[1])
"""


def https_answers(port: int) -> bool:
    unverified = ssl._create_unverified_context()
    try:
        urllib.request.urlopen(f"https://127.0.0.1:{port}/v2/", timeout=2, context=unverified)
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False
    return True


class Cli:
    """The docker CLI as the user has set it up: DOCKER_HOST, and the token in HttpHeaders."""

    def __init__(self, host: str, config: Path, cert_path: Path | None = None) -> None:
        self.env = {**os.environ, "DOCKER_HOST": host, "DOCKER_CONFIG": str(config)}
        for name in ("DOCKER_TLS", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH", "DOCKER_CONTEXT"):
            self.env.pop(name, None)
        if cert_path is not None:
            # The server's self-signed certificate is its own CA: ca.pem in DOCKER_CERT_PATH.
            self.env["DOCKER_TLS_VERIFY"] = "1"
            self.env["DOCKER_CERT_PATH"] = str(cert_path)

    def __call__(self, *args: str, input: str | None = None, timeout: float = 120):
        return subprocess.run(
            ["docker", *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self.env,
        )


@pytest.fixture(scope="module")
def web_platform(tmp_path_factory):
    if os.geteuid() != 0 or not shutil.which("crun") or not shutil.which("docker"):
        pytest.skip("needs root, crun and the docker CLI")
    if not shutil.which("openssl"):
        pytest.skip("needs openssl")
    tls_dir = tmp_path_factory.mktemp("tls")
    key, cert = self_signed_certificate(tls_dir)
    tls_port = free_port()
    tls_web = Service(
        "web-tls",
        [sys.executable, "-m", "dockyard.web", "--port", str(tls_port)]
        + ["--tls-key", str(key), "--tls-cert", str(cert)],
        probe=lambda: https_answers(tls_port),
    )
    services = ("redis", "worker", "agent", "web", "gateway", tls_web)
    root = tmp_path_factory.mktemp("tcp-root")
    run = Path(os.environ["DOCKYARD_RUN_DIR"]) / f"tc{secrets.token_hex(2)}"
    with ephemeral_platform(root, run, services=services) as platform:
        token = platform.manage("shell", "-c", SETUP).strip().splitlines()[-1]
        config = root / "docker-config-dev"
        config.mkdir()
        headers = {"HttpHeaders": {"Authorization": f"Bearer {token}"}}
        (config / "config.json").write_text(json.dumps(headers))
        ca = root / "docker-certs"
        ca.mkdir()
        shutil.copy(cert, ca / "ca.pem")
        platform.tcp = Cli(f"tcp://127.0.0.1:{platform.env['DOCKYARD_PORT']}", config)
        platform.tls = Cli(f"tcp://127.0.0.1:{tls_port}", config, cert_path=ca)
        try:
            yield platform
        finally:
            remove_all_containers(platform)


@pytest.fixture(params=["tcp", "tls"])
def cli(request, web_platform) -> Cli:
    return getattr(web_platform, request.param)


@pytest.fixture
def tcp(web_platform) -> Cli:
    return web_platform.tcp


@pytest.fixture
def sleeper(cli) -> str:
    name = f"s{uuid.uuid4().hex[:8]}"
    started = cli("run", "-d", "--name", name, "busybox", "sleep", "300")
    assert started.returncode == 0, started.stderr
    yield name
    cli("rm", "-f", name)


def test_the_user_is_no_admin_and_needs_the_token(web_platform, tcp):
    assert tcp("version").returncode == 0
    anonymous = Cli(tcp.env["DOCKER_HOST"], web_platform.root / "no-docker-config")
    # Pinned: without credentials the version negotiation gets no answer to go by.
    anonymous.env["DOCKER_API_VERSION"] = "1.47"
    refused = anonymous("ps")
    assert refused.returncode != 0 and "authentication required" in refused.stderr
    # The node's own containers (none of the user's) stay out of sight.
    admins = web_platform.docker("run", "-d", "--name", "admins", "busybox", "sleep", "60")
    assert admins.returncode == 0, admins.stderr
    try:
        assert "admins" not in tcp("ps", "-a").stdout
    finally:
        web_platform.docker("rm", "-f", "admins")


def test_run_prints_the_output(cli):
    out = cli("run", "--rm", "busybox", "echo", "hi")
    assert (out.returncode, out.stdout) == (0, "hi\n"), out.stderr
    failed = cli("run", "--rm", "busybox", "sh", "-c", "echo oops >&2; exit 3")
    assert failed.returncode == 3 and "oops" in failed.stderr


def test_run_with_piped_stdin_answers_it(cli):
    out = cli("run", "--rm", "-i", "busybox", "cat", input="piped through\n")
    assert (out.returncode, out.stdout) == (0, "piped through\n"), out.stderr


def test_exec_prints_the_output_and_the_exit_code(cli, sleeper):
    out = cli("exec", sleeper, "echo", "x")
    assert (out.returncode, out.stdout) == (0, "x\n"), out.stderr
    failed = cli("exec", sleeper, "sh", "-c", "echo nope >&2; exit 7")
    assert failed.returncode == 7 and "nope" in failed.stderr
    piped = cli("exec", "-i", sleeper, "cat", input="exec stdin\n")
    assert piped.stdout == "exec stdin\n", piped.stderr


def test_attach_talks_to_the_running_container(tcp):
    name = f"a{uuid.uuid4().hex[:8]}"
    assert tcp("run", "-d", "-i", "--name", name, "busybox", "sh").returncode == 0
    try:
        out = tcp("attach", name, input="echo attached-ok\nexit\n", timeout=30)
        assert "attached-ok" in out.stdout, out.stderr
    finally:
        tcp("rm", "-f", name)


def test_run_with_a_terminal(tcp):
    pid, fd = pty.fork()
    if pid == 0:
        os.execvpe("docker", ["docker", "run", "-it", "--rm", "busybox", "sh"], tcp.env)
    seen = b""
    try:
        os.write(fd, b"echo $((6*7))answer; exit\r")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and b"42answer" not in seen:
            if select.select([fd], [], [], 0.2)[0]:
                try:
                    seen += os.read(fd, 4096)
                except OSError:
                    break
    finally:
        _, status = os.waitpid(pid, 0)
    assert b"42answer" in seen
    assert os.waitstatus_to_exitcode(status) == 0


def test_build_shows_its_output(tcp, tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM busybox\nRUN echo built-over-tcp\n")
    # A non-admin names images in her own namespace; unqualified names are library/, shared.
    tag = f"dev/tcp-build-{uuid.uuid4().hex[:8]}"
    out = tcp("build", "-t", tag, str(tmp_path), timeout=300)
    try:
        assert out.returncode == 0, out.stderr
        assert "Step 2/2 : RUN echo built-over-tcp" in out.stdout
        assert "built-over-tcp\n" in out.stdout.replace("Step 2/2 : RUN echo built-over-tcp", "")
        assert f"Successfully tagged {tag}:latest" in out.stdout
    finally:
        tcp("rmi", tag)
