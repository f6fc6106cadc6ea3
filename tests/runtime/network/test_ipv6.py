"""Dual-stack networks: IPv6 addresses and routes, NAT per family, ports over IPv6."""

import http.client
import ipaddress
import os
import secrets
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from pyroute2 import IPRoute, netns

from runtime.errors import Conflict, Forbidden, InvalidInput
from runtime.network import PortBinding
from runtime.network.links import IFA_F_NODAD
from tests.runtime.network.conftest import fetch, in_netns, serving

pytestmark = pytest.mark.privileged

A = "a" * 64
B = "b" * 64
C = "c" * 64


def _ula() -> str:
    """A unique local /64 of the test's own (fd00::/64 is often the host's)."""
    text = f"fd{secrets.randbelow(255) + 1:02x}:{secrets.token_hex(2)}:{secrets.token_hex(2)}::/64"
    return str(ipaddress.IPv6Network(text))


def _get(host: str, port: int) -> str | None:
    conn = http.client.HTTPConnection(host, port, timeout=3)
    try:
        conn.request("GET", "/")
        return conn.getresponse().read().decode()
    except OSError:
        return None
    finally:
        conn.close()


def _host_address6(prefix: str) -> str | None:
    with IPRoute() as ipr:
        names = {link["index"]: link.get("ifname") for link in ipr.get_links()}
        for addr in ipr.get_addr(family=socket.AF_INET6):
            ip = ipaddress.ip_address(addr.get("address"))
            usable = ip.is_global or ip in ipaddress.ip_network("fc00::/7")
            if usable and not names[addr["index"]].startswith(prefix):
                return str(ip)
    return None


def _ping6(ns_path: str, address: str) -> bool:
    return in_netns(ns_path, "ping", "-6", "-c", "1", "-W", "1", address).returncode == 0


def _proxies(network, container_id: str) -> list[dict]:
    return network.state.read().endpoints[container_id].get("proxies", [])


def test_a_dual_stack_network_gives_each_container_both_addresses(network):
    subnet6 = _ula()
    net = network.create_network("dual", ipv6=True, subnet6=subnet6)
    assert net.ipv6 and net.subnet6 == subnet6
    assert net.gateway6 == str(ipaddress.ip_network(subnet6)[1])
    a = network.create_netns(A)
    b = network.create_netns(B)
    ep_a = network.connect(A, "dual", hostname="front")
    wanted = str(ipaddress.ip_network(subnet6)[0x10])
    ep_b = network.connect(B, "dual", hostname="db", ip6=wanted)
    assert ep_b.ip6 == wanted and ep_b.prefixlen6 == 64 and ep_b.gateway6 == net.gateway6
    assert ipaddress.ip_address(ep_a.ip6) in ipaddress.ip_network(subnet6)
    assert ipaddress.ip_address(ep_a.ip) in ipaddress.ip_network(net.subnet)

    # No duplicate address detection: usable at once.
    assert _ping6(a, ep_b.ip6)
    assert _ping6(b, net.gateway6)
    with serving(b, "over v6"):
        assert fetch(a, ep_b.ip6) == "over v6"
    routes = in_netns(a, "ip", "-6", "route").stdout
    assert f"default via {net.gateway6}" in routes
    hosts_a = (network.etc_dir(A) / "hosts").read_text()
    assert f"{ep_b.ip}\tdb" in hosts_a and f"{ep_b.ip6}\tdb" in hosts_a
    assert f"{ep_a.ip6}\tfront" in hosts_a

    with pytest.raises(Conflict):
        network.connect(C, "dual", hostname="c", ip6=wanted)
    network.remove_netns(B)
    assert network.connect(C, "dual", hostname="c", ip6=wanted).ip6 == wanted


def test_ipv6_asks_for_a_subnet_in_reach(network):
    with pytest.raises(InvalidInput, match="non-overlapping IPv6 address pool"):
        network.create_network("nosubnet", ipv6=True)
    with pytest.raises(InvalidInput, match="not enabled"):
        network.create_network("noflag", subnet6=_ula())
    with pytest.raises(InvalidInput):
        network.create_network("v4in6", ipv6=True, subnet6="10.1.0.0/16")
    with pytest.raises(Forbidden, match="link-local"):
        network.create_network("ll", ipv6=True, subnet6="fe80::/64", confined=False)
    # A user's network may take unique local or documentation ranges, never a public one:
    # its route would capture the host's traffic to those addresses.
    with pytest.raises(Forbidden, match="private ranges"):
        network.create_network("public", ipv6=True, subnet6="2a00:1450::/64")
    taken = _ula()
    network.create_network("first", ipv6=True, subnet6=taken)
    with pytest.raises(Forbidden, match="overlaps"):
        network.create_network("second", ipv6=True, subnet6=taken)
    doc = network.create_network("doc", ipv6=True, subnet6="2001:db8:1::/64")
    assert doc.gateway6 == "2001:db8:1::1"
    v4 = network.create_network("plain")
    with pytest.raises(InvalidInput, match="no IPv6 subnet"):
        network.connect(A, v4.name, hostname="a", ip6="2001:db8:1::9")


def test_ipv6_egress_is_masqueraded_behind_the_host(network, prefix):
    """A namespace plays the outside world over IPv6: it has no route back to the container
    subnet, so its replies arrive only if the container's traffic left as the host."""
    network.create_network("dual", ipv6=True, subnet6=_ula())
    a = network.create_netns(A)
    network.connect(A, "dual", hostname="a")
    outside_net = ipaddress.ip_network(_ula())
    host_ip, far_ip = str(outside_net[1]), str(outside_net[2])
    netns.create(f"{prefix}-out")
    outside = f"/run/netns/{prefix}-out"
    with IPRoute() as ipr:
        ipr.link("add", ifname=f"{prefix}x0", kind="veth", peer={"ifname": f"{prefix}x1"})
        host_end = ipr.link_lookup(ifname=f"{prefix}x0")[0]
        ipr.addr("add", index=host_end, address=host_ip, prefixlen=64, flags=IFA_F_NODAD)
        ipr.link("set", index=host_end, state="up")
        fd = os.open(outside, os.O_RDONLY)
        try:
            ipr.link("set", index=ipr.link_lookup(ifname=f"{prefix}x1")[0], net_ns_fd=fd)
        finally:
            os.close(fd)
    with IPRoute(netns=outside, flags=0) as ns:
        peer = ns.link_lookup(ifname=f"{prefix}x1")[0]
        ns.addr("add", index=peer, address=far_ip, prefixlen=64, flags=IFA_F_NODAD)
        ns.link("set", index=peer, state="up")
    assert _ping6(a, far_ip)
    network.firewall.remove()
    assert not _ping6(a, far_ip)
    network.reapply()
    assert _ping6(a, far_ip)


def test_a_published_port_answers_over_ipv6_and_on_ipv6_loopback(network, prefix):
    network.create_network("dual", ipv6=True, subnet6=_ula())
    c = network.create_netns(C)
    network.connect(C, "dual", hostname="web")
    (bound,) = network.publish(C, [PortBinding("0.0.0.0", 0, 80, "tcp")])
    (proxy,) = _proxies(network, C)
    # The DNAT serves the host's own addresses; only [::1] needs the proxy.
    assert proxy["listen"] == "::1"
    with serving(c, "published"):
        assert _get("127.0.0.1", bound.host_port) == "published"
        assert _get("::1", bound.host_port) == "published"
        host6 = _host_address6(prefix)
        if host6:
            assert _get(host6, bound.host_port) == "published"
    # The proxy runs without root.
    status = Path(f"/proc/{proxy['pid']}/status").read_text()
    assert "\nUid:\t65534\t" in status

    network.remove_netns(C)
    assert (
        not Path(f"/proc/{proxy['pid']}/cmdline").exists()
        or not Path(f"/proc/{proxy['pid']}/cmdline").read_bytes()
    )
    assert _get("::1", bound.host_port) is None


def test_a_container_without_ipv6_answers_ipv6_clients_through_the_proxy(network):
    network.ensure_default()
    c = network.create_netns(C)
    network.connect(C, "bridge", hostname="web")
    (bound,) = network.publish(C, [PortBinding("0.0.0.0", 0, 80, "tcp")])
    (proxy,) = _proxies(network, C)
    assert proxy["listen"] == "::"
    with serving(c, "v4 only"):
        assert _get("::1", bound.host_port) == "v4 only"
        # The proxy is started again when it is gone (after a reboot, say).
        os.kill(proxy["pid"], 9)
        network.reapply()
        (again,) = _proxies(network, C)
        assert again["pid"] != proxy["pid"]
        assert _get("::1", bound.host_port) == "v4 only"
    network.unpublish(C)
    assert _proxies(network, C) == []
    assert _get("::1", bound.host_port) is None


_UDP_ECHO = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 53))
print("ready", flush=True)
while True:
    data, peer = s.recvfrom(2048)
    s.sendto(data.upper(), peer)
"""


def test_udp_on_ipv6_loopback_reaches_the_container_through_the_proxy(network):
    network.ensure_default()
    c = network.create_netns(C)
    network.connect(C, "bridge", hostname="dns")
    (bound,) = network.publish(C, [PortBinding("0.0.0.0", 0, 53, "udp")])
    server = subprocess.Popen(
        ["nsenter", f"--net={c}", sys.executable, "-c", _UDP_ECHO],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout.readline().strip() == "ready"
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as client:
            client.settimeout(3)
            client.sendto(b"query", ("::1", bound.host_port))
            assert client.recvfrom(2048)[0] == b"QUERY"
    finally:
        server.kill()
        server.wait()
