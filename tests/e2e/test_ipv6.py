"""Dual-stack user networks through the docker CLI and docker-py: addresses, names, ports."""

import contextlib
import ipaddress
import json
import secrets
import socket
from pathlib import Path

import docker
import pytest
from docker.types import IPAMConfig, IPAMPool
from pyroute2 import IPRoute

from dockyard.ephemeral import free_port
from tests.e2e.networking import get, name, ok

pytestmark = [pytest.mark.e2e, pytest.mark.privileged]


def doc_subnet() -> ipaddress.IPv6Network:
    """A /64 of the documentation range of the test's own."""
    return ipaddress.IPv6Network(f"2001:db8:{secrets.token_hex(2)}:{secrets.token_hex(2)}::/64")


def host_address6(prefix: str) -> str | None:
    with IPRoute() as ipr:
        names = {link["index"]: link.get("ifname") for link in ipr.get_links()}
        for addr in ipr.get_addr(family=socket.AF_INET6):
            ip = ipaddress.ip_address(addr.get("address"))
            usable = ip.is_global or ip in ipaddress.ip_network("fc00::/7")
            if usable and not names[addr["index"]].startswith(prefix):
                return str(ip)
    return None


def proxies_of(prefix: str, cid: str) -> list[int]:
    """Pids of the userland proxies of the container (their tag names it)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(a.startswith(f"{prefix}:{cid[:12]}:".encode()) for a in argv):
            found.append(int(proc.name))
    return found


@contextlib.contextmanager
def cleanup(platform):
    made: dict[str, list[str]] = {"containers": [], "networks": []}
    try:
        yield made
    finally:
        if made["containers"]:
            platform.docker("rm", "-f", *made["containers"])
        for net in made["networks"]:
            platform.docker("network", "rm", net)


def inspect(platform, *args: str) -> dict:
    return json.loads(ok(platform.docker(*args)))[0]


def test_a_dual_stack_network_gives_containers_both_addresses_and_names_over_ipv6(platform):
    subnet = doc_subnet()
    with cleanup(platform) as made:
        net = name()
        made["networks"].append(net)
        ok(platform.docker("network", "create", "--ipv6", "--subnet", str(subnet), net))
        info = inspect(platform, "network", "inspect", net)
        assert info["EnableIPv6"] is True
        pools = {ipaddress.ip_network(c["Subnet"]).version: c for c in info["IPAM"]["Config"]}
        # Docker allocates the IPv4 subnet itself when only the IPv6 one is given.
        assert set(pools) == {4, 6}
        assert pools[6] == {"Subnet": str(subnet), "Gateway": str(subnet[1])}

        a, b = name(), name()
        made["containers"] += [a, b]
        fixed = str(subnet[0x10])
        ok(platform.docker("run", "-d", "--name", a, "--network", net, "--ip6", fixed,
                           "busybox", "httpd", "-f", "-p", "80", "-h", "/etc"))  # fmt: skip
        ok(platform.docker("run", "-d", "--name", b, "--network", net, "busybox", "sleep", "300"))
        endpoint = inspect(platform, "inspect", a)["NetworkSettings"]["Networks"][net]
        assert endpoint["GlobalIPv6Address"] == fixed
        assert endpoint["GlobalIPv6PrefixLen"] == 64
        assert endpoint["IPv6Gateway"] == str(subnet[1])
        assert endpoint["IPAMConfig"] == {"IPv6Address": fixed}
        assert ipaddress.ip_address(endpoint["IPAddress"]) in ipaddress.ip_network(
            pools[4]["Subnet"]
        )
        members = inspect(platform, "network", "inspect", net)["Containers"]
        assert {m["IPv6Address"] for m in members.values()} >= {f"{fixed}/64"}

        # By name, over IPv6, from one container to the other.
        ok(platform.docker("exec", b, "ping", "-6", "-c", "1", "-W", "2", a))
        page = ok(platform.docker("exec", b, "wget", "-q", "-O", "-", f"http://[{fixed}]/hostname"))
        assert page.strip() == inspect(platform, "inspect", a)["Config"]["Hostname"]
        out = ok(platform.docker("exec", b, "ip", "-6", "route"))
        assert f"default via {subnet[1]}" in out


def test_both_subnets_may_be_given_and_ipv6_without_a_subnet_is_a_clear_400(platform):
    subnet = doc_subnet()
    v4 = f"10.{secrets.randbelow(200) + 20}.{secrets.randbelow(250)}.0/24"
    with cleanup(platform) as made:
        net = name()
        made["networks"].append(net)
        ok(platform.docker("network", "create", "--ipv6", "--subnet", v4,
                           "--subnet", str(subnet), net))  # fmt: skip
        configs = inspect(platform, "network", "inspect", net)["IPAM"]["Config"]
        assert {c["Subnet"] for c in configs} == {v4, str(subnet)}

        refused = platform.docker("network", "create", "--ipv6", name())
        assert refused.returncode != 0
        assert "non-overlapping IPv6 address pool" in refused.stderr
        wrong = platform.docker("network", "create", "--subnet", "2001:db8:zz::/64", name())
        assert wrong.returncode != 0 and "invalid subnet" in wrong.stderr


def test_published_ports_answer_over_ipv6_and_on_ipv6_loopback(platform):
    prefix = platform.env["DOCKYARD_NETWORK_PREFIX"]
    subnet = doc_subnet()
    port, port4 = free_port(), free_port()
    with cleanup(platform) as made:
        net = name()
        made["networks"].append(net)
        ok(platform.docker("network", "create", "--ipv6", "--subnet", str(subnet), net))
        web, web4 = name(), name()
        made["containers"] += [web, web4]
        ok(platform.docker("run", "-d", "--name", web, "--network", net, "-p", f"{port}:80",
                           "busybox", "httpd", "-f", "-p", "80", "-h", "/etc"))  # fmt: skip
        # A container without IPv6: IPv6 clients reach it through the proxy, as with Docker.
        ok(platform.docker("run", "-d", "--name", web4, "-p", f"{port4}:80",
                           "busybox", "httpd", "-f", "-p", "80", "-h", "/etc"))  # fmt: skip
        cid = inspect(platform, "inspect", web)["Id"]
        hostname = cid[:12] + "\n"
        assert get("127.0.0.1", port) == hostname
        assert get("::1", port) == hostname
        host6 = host_address6(prefix)
        if host6:
            assert get(host6, port) == hostname
        cid4 = inspect(platform, "inspect", web4)["Id"]
        assert get("::1", port4) == cid4[:12] + "\n"

        assert proxies_of(prefix, cid)
        ok(platform.docker("rm", "-f", web))
        made["containers"].remove(web)
        assert proxies_of(prefix, cid) == []
        assert get("::1", port, wait=0) is None


def test_an_ipam_pool_without_a_gateway_gets_the_first_address(platform):
    client = docker.DockerClient(base_url=platform.docker_host, version="auto")
    third = secrets.randbelow(250)
    subnet = f"10.77.{third}.0/24"
    net = client.networks.create(
        name(), driver="bridge", ipam=IPAMConfig(pool_configs=[IPAMPool(subnet=subnet)])
    )
    try:
        (config,) = client.api.inspect_network(net.id)["IPAM"]["Config"]
        assert config == {"Subnet": subnet, "Gateway": f"10.77.{third}.1"}
    finally:
        net.remove()
        client.close()


def test_network_connect_gives_a_running_container_the_ipv6_address_asked_for(platform):
    subnet = doc_subnet()
    with cleanup(platform) as made:
        net = name()
        made["networks"].append(net)
        ok(platform.docker("network", "create", "--ipv6", "--subnet", str(subnet), net))
        c = name()
        made["containers"].append(c)
        ok(platform.docker("run", "-d", "--name", c, "busybox", "sleep", "300"))
        wanted = str(subnet[0x99])
        ok(platform.docker("network", "connect", "--ip6", wanted, net, c))
        endpoint = inspect(platform, "inspect", c)["NetworkSettings"]["Networks"][net]
        assert endpoint["GlobalIPv6Address"] == wanted
        assert wanted in ok(platform.docker("exec", c, "ip", "-6", "addr", "show", "eth1"))
        # Refused at start; a --rm container whose start failed is removed, as Docker does,
        # so the CLI waiting for that removal returns.
        for address, said in ((wanted, "already in use"), ("2001:db8::1", "is not in the subnet")):
            other = name()
            made["containers"].append(other)
            run = platform.docker(
                "run", "--rm", "--name", other, "--network", net, "--ip6", address, "busybox",
                "true", timeout=30,
            )  # fmt: skip
            assert run.returncode != 0 and said in run.stderr
            assert other not in platform.docker("ps", "-a", "--format", "{{.Names}}").stdout
