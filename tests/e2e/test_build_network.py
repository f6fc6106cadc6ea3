"""RUN steps have a network, as with Docker's classic builder: the default bridge unless the
build says `--network none`; `--network host` for administrators only."""

import json
import os
import re
import uuid
from pathlib import Path

import pytest

from tests.e2e.test_image_tenancy import Cli

pytestmark = [pytest.mark.e2e, pytest.mark.privileged]

TOKEN_SETUP = """
from django.contrib.auth.models import User
from accounts.services import do_create_token
user = User.objects.create_user({name!r})
print("token", do_create_token(user, "cli", ["read", "write"])[1])
"""


def tag() -> str:
    return f"buildnet-{uuid.uuid4().hex[:8]}"


def interfaces(platform, image: str) -> list[str]:
    """The interfaces RUN saw, as the image recorded them in /nets."""
    out = platform.docker("run", "--rm", image, "cat", "/nets")
    assert out.returncode == 0, out.stderr
    return re.findall(r"^\s*([^\s:]+):", out.stdout, re.MULTILINE)


def host_veths(platform) -> set[str]:
    prefix = platform.env["DOCKYARD_NETWORK_PREFIX"] + "v"
    return {name for name in os.listdir("/sys/class/net") if name.startswith(prefix)}


def default_route_interface() -> str:
    for line in Path("/proc/net/route").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == "00000000":
            return fields[0]
    raise AssertionError("the host has no default route")


def build(platform, context: Path, dockerfile: str, *flags: str, timeout: float = 300):
    (context / "Dockerfile").write_text(dockerfile)
    name = tag()
    out = platform.docker("build", *flags, "-t", name, str(context), timeout=timeout)
    return name, out


@pytest.fixture
def outsider(platform, tmp_path) -> Cli:
    """A user who is no administrator: the docker CLI on the web port with a token."""
    user = f"builder{uuid.uuid4().hex[:6]}"
    script = TOKEN_SETUP.format(name=user)
    token = platform.manage("shell", "-c", script).split("token ", 1)[1].split()[0]
    config = tmp_path / "docker-config"
    config.mkdir()
    headers = {"HttpHeaders": {"Authorization": f"Bearer {token}"}}
    (config / "config.json").write_text(json.dumps(headers))
    cli = Cli(f"tcp://127.0.0.1:{platform.env['DOCKYARD_PORT']}", config)
    cli.user = user
    return cli


def test_run_is_on_the_default_bridge_and_leaves_no_endpoint(platform, tmp_path):
    before = host_veths(platform)
    name, out = build(platform, tmp_path, "FROM busybox\nRUN cat /proc/net/dev > /nets\n")
    assert out.returncode == 0, out.stderr
    try:
        assert sorted(interfaces(platform, name)) == ["eth0", "lo"]
    finally:
        platform.docker("rmi", name)
    assert host_veths(platform) == before


def test_network_none_gives_run_loopback_only(platform, tmp_path):
    name, out = build(
        platform, tmp_path, "FROM busybox\nRUN cat /proc/net/dev > /nets\n", "--network", "none"
    )
    assert out.returncode == 0, out.stderr
    try:
        assert interfaces(platform, name) == ["lo"]
    finally:
        platform.docker("rmi", name)


def test_a_run_that_fails_leaves_no_endpoint(platform, tmp_path):
    before = host_veths(platform)
    _, out = build(platform, tmp_path, "FROM busybox\nRUN ip link && exit 3\n")
    assert out.returncode != 0
    assert "returned a non-zero code: 3" in out.stderr
    assert host_veths(platform) == before


def test_host_network_is_the_nodes_for_the_administrator(platform, tmp_path):
    name, out = build(
        platform, tmp_path, "FROM busybox\nRUN cat /proc/net/dev > /nets\n", "--network", "host"
    )
    assert out.returncode == 0, out.stderr
    try:
        seen = set(interfaces(platform, name))
        # The node's own links: its way out and the platform's bridge.
        assert default_route_interface() in seen
        assert platform.env["DOCKYARD_NETWORK_PREFIX"] + "0" in seen
    finally:
        platform.docker("rmi", name)


def test_host_network_is_refused_to_a_user_who_is_no_administrator(outsider, tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM busybox\nRUN cat /proc/net/dev\n")
    # A user names images in her own namespace.
    name = f"{outsider.user}/{tag()}"
    out = outsider("build", "--network", "host", "-t", name, str(tmp_path))
    assert out.returncode != 0
    assert "network=host is for administrators" in out.stderr
    assert "Step 1/" not in out.stdout
    # The same build on the default bridge is theirs to run.
    allowed = outsider("build", "-t", name, str(tmp_path))
    assert allowed.returncode == 0, allowed.stderr
    assert "eth0" in allowed.stdout
    outsider("rmi", name)


@pytest.mark.slow
def test_apt_get_in_run_reaches_the_debian_mirror(platform, tmp_path):
    platform.manage("import_base_images", "debian:bookworm", timeout=1800)
    dockerfile = "FROM debian:bookworm\nRUN apt-get update -q && apt-get install -y -q hello\n"
    name, out = build(platform, tmp_path, dockerfile, timeout=900)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    try:
        hello = platform.docker("run", "--rm", name, "hello")
        assert hello.stdout == "Hello, world!\n"
    finally:
        platform.docker("rmi", name)
