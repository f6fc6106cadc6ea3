"""Network modes through the real docker CLI: none, host, another container's, the /etc files'
options, and the way out to the host's Debian mirror."""

import pytest
from pyroute2 import IPRoute

from tests.e2e.networking import (
    containers,
    name,
    ok,
)

pytestmark = [pytest.mark.e2e, pytest.mark.privileged]


def test_host_none_and_container_modes_and_etc_options(platform):
    none = ok(platform.docker("run", "--rm", "--network", "none", "busybox", "ip", "-o", "link"))
    assert [line.split(":")[1].strip() for line in none.splitlines()] == ["lo"]

    host_links = ok(
        platform.docker("run", "--rm", "--network", "host", "busybox", "ip", "-o", "link")
    )
    with IPRoute() as ipr:
        ours = {link.get("ifname") for link in ipr.get_links()}
    assert {
        line.split(":")[1].strip().split("@")[0] for line in host_links.splitlines()
    } & ours >= {"lo"}
    assert len(host_links.splitlines()) > 1

    with containers(platform) as made:
        owner = name()
        made.append(owner)
        ok(platform.docker("run", "-d", "--name", owner, "busybox", "sleep", "300"))
        own_ip = ok(
            platform.docker("exec", owner, "ip", "-4", "-o", "addr", "show", "eth0")
        ).split()[3]
        joined = ok(
            platform.docker(
                "run",
                "--rm",
                "--network",
                f"container:{owner}",
                "busybox",
                "ip",
                "-4",
                "-o",
                "addr",
                "show",
                "eth0",
            )
        )
        assert joined.split()[3] == own_ip

    etc = ok(
        platform.docker(
            "run",
            "--rm",
            "--hostname",
            "box",
            "--add-host",
            "db.local:10.9.8.7",
            "--dns",
            "192.0.2.53",
            "--dns-search",
            "example.test",
            "busybox",
            "sh",
            "-c",
            "hostname; cat /etc/hosts /etc/resolv.conf",
        )
    )
    assert etc.startswith("box\n")
    assert "10.9.8.7\tdb.local" in etc
    assert "nameserver 192.0.2.53" in etc and "search example.test" in etc


@pytest.mark.slow
def test_apt_get_installs_from_the_hosts_debian_mirror(platform):
    platform.manage("import_base_images", "debian:bookworm", timeout=1800)
    out = platform.docker(
        "run",
        "--rm",
        "debian:bookworm",
        "sh",
        "-c",
        "apt-get update -q && apt-get install -y -q hello && hello",
        timeout=900,
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert "Hello, world!" in out.stdout
