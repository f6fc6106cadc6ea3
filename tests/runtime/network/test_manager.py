import http.client
import ipaddress
import os

import pytest
from pyroute2 import IPRoute, netns

from runtime.errors import Conflict, Forbidden, InvalidInput, NotFound
from runtime.network import NetworkManager, PortBinding, links
from runtime.network.subnets import host_networks
from tests.runtime.network.conftest import fetch, pings, serving

pytestmark = pytest.mark.privileged

A = "a" * 64
B = "b" * 64
C = "c" * 64


def _get(host: str, port: int) -> str | None:
    conn = http.client.HTTPConnection(host, port, timeout=3)
    try:
        conn.request("GET", "/")
        return conn.getresponse().read().decode()
    except OSError:
        return None
    finally:
        conn.close()


def _host_address() -> str:
    """An address of the host that is not loopback and not one of the test's bridges."""
    with IPRoute() as ipr:
        names = {link["index"]: link.get("ifname") for link in ipr.get_links()}
        for addr in ipr.get_addr(family=2):
            ip = addr.get("address")
            if not ipaddress.ip_address(ip).is_loopback and not names[addr["index"]].startswith(
                "dyt"
            ):
                return ip
    pytest.skip("the host has no non-loopback IPv4 address")


def _links() -> set[str]:
    with IPRoute() as ipr:
        return {link.get("ifname") for link in ipr.get_links()}


def test_the_default_network_avoids_host_subnets_and_is_kept_across_restarts(
    network, runtime_paths, prefix
):
    before = host_networks()
    default = network.ensure_default()
    assert default.name == "bridge" and default.bridge == f"{prefix}0"
    subnet = ipaddress.ip_network(default.subnet)
    assert not any(subnet.overlaps(n) for n in before)
    assert f"{prefix}0" in _links()

    again = NetworkManager(runtime_paths, prefix=prefix).ensure_default()
    assert (again.id, again.subnet, again.gateway) == (default.id, default.subnet, default.gateway)


def test_two_containers_on_one_network_reach_each_other_by_name(network):
    net = network.create_network("app", labels={"team": "web"})
    a = network.create_netns(A)
    b = network.create_netns(B)
    ep_a = network.connect(A, "app", hostname="front", aliases=["web"])
    ep_b = network.connect(B, net.id, hostname="db", aliases=["postgres"])
    assert (ep_a.ifname, ep_b.ifname) == ("eth0", "eth0")
    assert ep_a.ip != ep_b.ip
    assert ipaddress.ip_address(ep_a.ip) in ipaddress.ip_network(net.subnet)

    with serving(b, "hello from db"):
        assert fetch(a, ep_b.ip) == "hello from db"
    assert pings(b, ep_a.ip)
    assert pings(a, net.gateway)

    hosts_a = (network.etc_dir(A) / "hosts").read_text()
    hosts_b = (network.etc_dir(B) / "hosts").read_text()
    assert f"{ep_b.ip}\tdb postgres" in hosts_a
    assert f"{ep_a.ip}\tfront web" in hosts_b

    network.remove_netns(B)
    assert "db" not in (network.etc_dir(A) / "hosts").read_text()
    assert not os.path.exists(b)
    assert ep_b.host_ifname not in _links()


def test_containers_on_different_networks_cannot_reach_each_other(network, prefix):
    one = network.create_network("one")
    network.create_network("two")
    a = network.create_netns(A)
    network.connect(A, "one", hostname="a")
    ep_b = network.connect(B, "two", hostname="b")
    assert pings(a, one.gateway)
    assert not pings(a, ep_b.ip)
    assert "\tb" not in (network.etc_dir(A) / "hosts").read_text()

    # Without the table the host would route between them: the isolation is ours.
    network.firewall.remove()
    assert pings(a, ep_b.ip)
    network.reapply()
    assert not pings(a, ep_b.ip)


def test_an_internal_network_has_no_route_out(network):
    net = network.create_network("private", internal=True)
    a = network.create_netns(A)
    b = network.create_netns(B)
    ep_a = network.connect(A, "private", hostname="a")
    network.connect(B, "private", hostname="b")
    assert pings(b, ep_a.ip)
    assert not pings(a, _host_address())
    with pytest.raises(Conflict):
        network.publish(A, [PortBinding("0.0.0.0", 0, 80, "tcp")])
    assert net.internal


def test_a_published_port_answers_on_loopback_and_on_the_host_address(network):
    network.ensure_default()
    c = network.create_netns(C)
    network.connect(C, "bridge", hostname="web")
    (bound,) = network.publish(C, [PortBinding("0.0.0.0", 0, 80, "tcp")])
    assert bound.host_port > 0

    with serving(c, "published"):
        assert _get("127.0.0.1", bound.host_port) == "published"
        assert _get(_host_address(), bound.host_port) == "published"

        # `nft flush ruleset` or a deleted table: reapply brings the port back.
        network.firewall.remove()
        assert _get("127.0.0.1", bound.host_port) is None
        NetworkManager(network.paths, prefix=network.prefix).reapply()
        assert _get("127.0.0.1", bound.host_port) == "published"

        network.unpublish(C)
        assert _get("127.0.0.1", bound.host_port) is None


def test_a_host_port_cannot_be_published_twice(network):
    network.ensure_default()
    network.connect(A, "bridge", hostname="a")
    network.connect(B, "bridge", hostname="b")
    (bound,) = network.publish(A, [PortBinding("127.0.0.1", 0, 80, "tcp")])
    with pytest.raises(Conflict):
        network.publish(B, [PortBinding("0.0.0.0", bound.host_port, 80, "tcp")])
    (udp,) = network.publish(B, [PortBinding("127.0.0.1", bound.host_port, 53, "udp")])
    assert udp.host_port == bound.host_port
    with pytest.raises(InvalidInput):
        network.publish(B, [PortBinding("localhost", 8080, 80, "tcp")])


def test_state_survives_a_new_manager(network, runtime_paths, prefix):
    network.create_network("app", subnet="10.123.0.0/24")
    network.connect(A, "app", hostname="a", ip="10.123.0.77")
    (bound,) = network.publish(A, [PortBinding("0.0.0.0", 0, 8080, "tcp")])

    again = NetworkManager(runtime_paths, prefix=prefix)
    assert [n.name for n in again.list_networks()] == ["app"]
    assert again.get_network("app").subnet == "10.123.0.0/24"
    (ep,) = again.endpoints(A)
    assert (ep.ip, ep.network) == ("10.123.0.77", "app")
    assert again.published(A) == [bound]
    with pytest.raises(Conflict):
        again.connect(B, "app", hostname="b", ip="10.123.0.77")


def test_a_second_network_becomes_eth1_and_disconnect_keeps_a_default_route(network):
    network.create_network("one")
    two = network.create_network("two")
    a = network.create_netns(A)
    network.connect(A, "one", hostname="a")
    ep = network.connect(A, "two", hostname="a")
    assert ep.ifname == "eth1"
    network.disconnect(A, "one")
    with IPRoute(netns=a, flags=0) as ns:
        (route,) = [r for r in ns.get_routes(family=2, table=254) if r["dst_len"] == 0]
        assert route.get("gateway") == two.gateway
    with pytest.raises(NotFound):
        network.disconnect(A, "one")


def test_networks_are_named_uniquely_and_removed_only_when_unused(network):
    network.ensure_default()
    net = network.create_network("app")
    with pytest.raises(Conflict):
        network.create_network("app")
    with pytest.raises(Forbidden, match="Pool overlaps with other one on this address space"):
        network.create_network("clash", subnet=net.subnet)
    with pytest.raises(Conflict):
        network.remove_network("bridge")
    network.connect(A, "app", hostname="a")
    with pytest.raises(Conflict):
        network.remove_network(net.id[:12])
    network.remove_netns(A)
    network.remove_network("app")
    assert net.bridge not in _links()
    with pytest.raises(NotFound):
        network.get_network("app")


def test_cleanup_stale_removes_containers_that_no_longer_run(network, prefix):
    network.ensure_default()
    network.connect(A, "bridge", hostname="a")
    ep_b = network.connect(B, "bridge", hostname="b")
    orphan = links.create_netns(f"{prefix}-{'d' * 12}")
    assert network.cleanup_stale([A]) == [B]
    assert not os.path.exists(orphan)
    assert not os.path.exists(f"/run/netns/{prefix}-{B[:12]}")
    assert ep_b.host_ifname not in _links()
    assert network.endpoints(B) == []
    assert [e.network for e in network.endpoints(A)] == ["bridge"]
    assert network.connect(C, "bridge", hostname="c").ip != network.endpoints(A)[0].ip


def test_egress_is_masqueraded_behind_the_host(network, prefix):
    """A namespace plays the outside world: it has no route back to the container subnet,
    so its replies arrive only if the container's traffic left as the host."""
    network.ensure_default()
    a = network.create_netns(A)
    network.connect(A, "bridge", hostname="a")
    netns.create(f"{prefix}-out")
    outside = f"/run/netns/{prefix}-out"
    with IPRoute() as ipr:
        ipr.link("add", ifname=f"{prefix}x0", kind="veth", peer={"ifname": f"{prefix}x1"})
        host_end = ipr.link_lookup(ifname=f"{prefix}x0")[0]
        ipr.addr("add", index=host_end, address="198.51.100.1", prefixlen=30)
        ipr.link("set", index=host_end, state="up")
        fd = os.open(outside, os.O_RDONLY)
        try:
            ipr.link("set", index=ipr.link_lookup(ifname=f"{prefix}x1")[0], net_ns_fd=fd)
        finally:
            os.close(fd)
    with IPRoute(netns=outside, flags=0) as ns:
        peer = ns.link_lookup(ifname=f"{prefix}x1")[0]
        ns.addr("add", index=peer, address="198.51.100.2", prefixlen=30)
        ns.link("set", index=peer, state="up")
    assert pings(a, "198.51.100.2")
    network.firewall.remove()
    assert not pings(a, "198.51.100.2")


def test_a_new_namespace_has_loopback_up_and_leaves_the_caller_at_home(network, prefix):
    home = os.stat("/proc/thread-self/ns/net").st_ino
    path = links.create_netns(f"{prefix}-{'e' * 12}")
    try:
        assert os.stat("/proc/thread-self/ns/net").st_ino == home
        assert os.stat(path).st_ino != home
        with links.in_netns(path) as ns:
            lo = ns.get_links(ns.link_lookup(ifname="lo")[0])[0]
            assert lo.get("operstate") in ("UNKNOWN", "UP")
            assert [link.get("ifname") for link in ns.get_links()] == ["lo"]
    finally:
        links.remove_netns(f"{prefix}-{'e' * 12}")
    assert not os.path.exists(path)


def test_an_endpoint_gets_dockers_mac_for_its_address_unless_one_is_asked(network):
    network.ensure_default()
    network.create_netns(A)
    network.create_netns(B)
    derived = network.connect(A, "bridge", hostname="a")
    octets = [int(o) for o in derived.ip.split(".")]
    assert derived.mac == "02:42:" + ":".join(f"{o:02x}" for o in octets)
    asked = network.connect(B, "bridge", hostname="b", mac="02:42:ac:11:00:99")
    assert asked.mac == "02:42:ac:11:00:99"
    with links.in_netns(network.netns_path(B)) as ns:
        eth0 = ns.get_links(ns.link_lookup(ifname="eth0")[0])[0]
    assert eth0.get("address") == "02:42:ac:11:00:99"
