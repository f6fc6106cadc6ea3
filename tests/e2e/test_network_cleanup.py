"""What a platform leaves of the host's network: nothing after fifty containers, nor after it
stops; its agent restores lost rules and removes orphans when it starts."""

import os
import secrets
import subprocess
import tempfile
from pathlib import Path

import pytest

from dockyard.ephemeral import ephemeral_platform, free_port
from tests.e2e.networking import (
    containers,
    get,
    name,
    ok,
    own_state,
    prefix_of,
    proxies,
    run_web_server,
)

pytestmark = [pytest.mark.e2e, pytest.mark.privileged]


def test_fifty_containers_come_and_go_without_leaving_network_state(platform):
    prefix = prefix_of(platform)
    ok(platform.docker("run", "--rm", "busybox", "true"))
    before = own_state(prefix)
    ids = []
    try:
        for _ in range(50):
            ids.append(
                ok(platform.docker("run", "-d", "-p", "80", "busybox", "sleep", "300")).strip()
            )
    finally:
        if ids:
            ok(platform.docker("rm", "-f", *ids))
    assert own_state(prefix) == before


def test_the_agent_restores_rules_and_removes_orphans_at_start(platform):
    prefix = prefix_of(platform)
    port = free_port()
    with containers(platform) as made:
        c = name()
        made.append(c)
        run_web_server(platform, c, "-p", f"{port}:80")
        assert get("127.0.0.1", port)
        subprocess.run(["nft", "delete", "table", "ip", prefix], check=True)
        assert get("127.0.0.1", port, wait=0) is None
        orphan = f"/run/netns/{prefix}-{secrets.token_hex(6)}"
        subprocess.run(["ip", "netns", "add", Path(orphan).name], check=True)
        platform.manage(
            "shell",
            "-c",
            "from engine.agent.service import reconcile; from engine.nodes import local_node; "
            "reconcile(local_node())",
        )
        assert get("127.0.0.1", port)
        assert not os.path.exists(orphan)


def test_the_host_network_is_as_found_after_a_platform_stops(tmp_path):
    forward = Path("/proc/sys/net/ipv4/ip_forward").read_text()
    run = Path(tempfile.mkdtemp(prefix="dyn", dir="/tmp"))
    try:
        with ephemeral_platform(tmp_path / "root", run) as p:
            ok(p.docker("network", "create", "scratch"))
            ok(p.docker("network", "create", "--ipv6", "--subnet", "fd5e:7c1a:9::/64", "dual"))
            ok(p.docker("run", "-d", "--network", "scratch", "-p", "80", "busybox", "sleep", "300"))
            ok(p.docker("run", "-d", "--network", "dual", "-p", "80", "busybox", "sleep", "300"))
            ok(p.docker("run", "-d", "-p", "80", "busybox", "sleep", "300"))
            prefix = p.env["DOCKYARD_NETWORK_PREFIX"]
            assert own_state(prefix)["netns"] and own_state(prefix)["nft"]
            assert proxies(prefix)
            leftovers = p.docker("ps", "-aq").stdout.split()
            p.docker("rm", "-f", *leftovers)
    finally:
        subprocess.run(["rm", "-rf", str(run)], check=False)
    assert own_state(prefix) == {"links": [], "addrs": [], "routes": [], "netns": [], "nft": []}
    assert proxies(prefix) == []
    assert Path("/proc/sys/net/ipv4/ip_forward").read_text() == forward
