"""Published ports through the real docker CLI: -p, -P and --expose, on loopback and the
host's address."""

import json

import pytest

from dockyard.ephemeral import free_port
from tests.e2e.networking import (
    containers,
    get,
    host_address,
    name,
    ok,
    prefix_of,
    run_web_server,
)

pytestmark = [pytest.mark.e2e, pytest.mark.privileged]


def test_a_published_port_answers_on_loopback_and_on_the_hosts_address(platform):
    port = free_port()
    with containers(platform) as made:
        c = name()
        made.append(c)
        run_web_server(platform, c, "-p", f"{port}:80")
        cid = ok(platform.docker("inspect", "-f", "{{.Id}}", c)).strip()
        assert get("127.0.0.1", port) == cid[:12] + "\n"
        assert get(host_address(prefix_of(platform)), port) == cid[:12] + "\n"

        assert ok(platform.docker("port", c)).strip() == f"80/tcp -> 0.0.0.0:{port}"
        assert f"0.0.0.0:{port}->80/tcp" in ok(platform.docker("ps", "--filter", f"name={c}"))
        info = json.loads(ok(platform.docker("inspect", c)))[0]
        assert info["HostConfig"]["PortBindings"] == {
            "80/tcp": [{"HostIp": "", "HostPort": str(port)}]
        }
        assert info["NetworkSettings"]["Ports"] == {
            "80/tcp": [{"HostIp": "0.0.0.0", "HostPort": str(port)}]
        }
        assert info["NetworkSettings"]["Networks"]["bridge"]["IPAddress"]

        clash = platform.docker("run", "-d", "-p", f"{port}:80", "busybox", "sleep", "5")
        assert clash.returncode != 0 and "already" in clash.stderr
        made.extend(platform.docker("ps", "-aq", "--filter", "status=created").stdout.split())


def test_publish_all_maps_exposed_ports_to_random_host_ports_on_chosen_addresses(platform):
    with containers(platform) as made:
        c = name()
        made.append(c)
        run_web_server(
            platform, c, "--expose", "80", "--expose", "53/udp", "-P", "-p", "127.0.0.1::8080"
        )
        lines = ok(platform.docker("port", c)).splitlines()
        ports = dict(line.split(" -> ") for line in lines)
        assert set(ports) == {"80/tcp", "53/udp", "8080/tcp"}
        assert ports["8080/tcp"].startswith("127.0.0.1:")
        web_port = int(ports["80/tcp"].rsplit(":", 1)[1])
        assert web_port > 0 and get("127.0.0.1", web_port)
