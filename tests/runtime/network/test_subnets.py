"""Which subnets a network may take on a host that uses some of the address space itself."""

import ipaddress

import pytest
from pyroute2 import IPRoute

from runtime.errors import Forbidden, InvalidInput
from runtime.network import subnets
from runtime.network.subnets import POOL_OVERLAP, Claim, check_reach, pick_free
from tests.runtime.network.hostnet import host_nets

Net = ipaddress.IPv4Network


@pytest.mark.parametrize(
    ("subnet", "what"),
    [
        ("127.0.0.0/24", "loopback"),
        ("169.254.169.0/24", "link-local"),
        ("224.1.0.0/16", "multicast"),
        ("0.0.0.0/16", "'this network'"),
        ("240.0.0.0/8", "reserved"),
        ("96.0.0.0/3", "loopback"),
    ],
)
def test_reserved_ranges_are_refused_even_to_administrators(subnet, what):
    with pytest.raises(Forbidden, match=POOL_OVERLAP) as refused:
        check_reach(Net(subnet), confined=False)
    assert what in str(refused.value)


def test_others_are_kept_to_the_private_ranges():
    with pytest.raises(Forbidden, match="outside the private ranges"):
        check_reach(Net("151.101.0.0/16"), confined=True)
    with pytest.raises(Forbidden, match="outside the private ranges"):
        check_reach(Net("10.0.0.0/7"), confined=True)
    check_reach(Net("151.101.0.0/16"), confined=False)


def test_a_subnet_holding_the_hosts_nameserver_is_refused(monkeypatch):
    monkeypatch.setattr(subnets, "host_claims", lambda: [])
    monkeypatch.setattr(subnets, "nameservers", lambda: [Net("10.99.0.53/32")])
    with pytest.raises(Forbidden, match=f"{POOL_OVERLAP}: .*nameserver 10.99.0.53"):
        check_reach(Net("10.99.0.0/16"), confined=True)
    check_reach(Net("10.98.0.0/16"), confined=True)


def test_claims_name_what_uses_the_range(monkeypatch):
    lan = Claim(Net("192.168.1.0/24"), "the address 192.168.1.5/24 of eth0")
    monkeypatch.setattr(subnets, "host_claims", lambda: [lan])
    monkeypatch.setattr(subnets, "nameservers", lambda: [])
    with pytest.raises(Forbidden) as refused:
        check_reach(Net("192.168.1.128/25"), confined=True)
    assert str(refused.value) == (
        f"{POOL_OVERLAP}: 192.168.1.128/25 overlaps the address 192.168.1.5/24 of eth0"
    )


def test_default_subnets_skip_reserved_and_taken_ranges():
    assert not any(c.overlaps(r) for c in subnets.candidates() for r, _ in subnets.RESERVED), (
        "a default pool candidate lies in a reserved range"
    )
    taken = [Net("172.16.0.0/12"), Net("10.0.0.0/15")]
    assert str(pick_free(taken)) == "10.2.0.0/16"


@pytest.mark.privileged
def test_a_network_cannot_take_the_hosts_lan_or_its_vpns_routes(network, prefix):
    with host_nets(prefix) as host:
        lan = Net(host.lan)
        refused = {
            host.lan: f"the address {host.address} of {host.link}",
            str(list(lan.subnets(1))[1]): f"the address {host.address} of {host.link}",
            str(lan.supernet(8)): f"the address {host.address} of {host.link}",
            host.vpn: f"the host's route to {host.vpn} on {host.link}",
        }
        for subnet, what in refused.items():
            with pytest.raises(Forbidden) as err:
                network.create_network("reach", subnet=subnet)
            assert str(err.value) == f"{POOL_OVERLAP}: {subnet} overlaps {what}"
        assert network.list_networks() == []
        assert not [link for link in _links() if link.startswith(f"{prefix}b")]

        # An administrator's network may overlap the host's routes, not a reserved range.
        net = network.create_network("vpnpart", subnet=host.vpn, confined=False)
        assert net.subnet == host.vpn
        with pytest.raises(Forbidden, match=POOL_OVERLAP):
            network.create_network("lo", subnet="127.1.0.0/16", confined=False)

        # A default subnet keeps clear of the host's networks.
        auto = Net(network.create_network("auto").subnet)
        assert not auto.overlaps(lan) and not auto.overlaps(Net(host.vpn))


@pytest.mark.privileged
def test_a_gateway_and_ip_range_stay_inside_the_subnet(network):
    with pytest.raises(InvalidInput, match="not a usable address"):
        network.create_network("gw", subnet="10.251.3.0/24", gateway="10.251.4.1")
    with pytest.raises(InvalidInput, match="not a usable address"):
        network.create_network("gw", subnet="10.251.3.0/24", gateway="10.251.3.255")
    with pytest.raises(InvalidInput, match="not an IPv4 address"):
        network.create_network("gw", subnet="10.251.3.0/24", gateway="gateway")
    with pytest.raises(InvalidInput, match="not in subnet"):
        network.create_network("r", subnet="10.251.3.0/24", ip_range="127.0.0.0/28")
    with pytest.raises(InvalidInput, match="needs a subnet"):
        network.create_network("r", ip_range="10.251.3.0/28")
    assert network.list_networks() == []

    net = network.create_network("r", subnet="10.251.3.0/24", ip_range="10.251.3.64/30")
    assert network.connect("a" * 64, "r", hostname="a").ip == "10.251.3.64"
    assert network.connect("b" * 64, "r", hostname="b").ip == "10.251.3.65"
    assert network.connect("c" * 64, "r", hostname="c", ip="10.251.3.9").ip == "10.251.3.9"
    assert network.get_network("r").ip_range == net.ip_range == "10.251.3.64/30"


def _links() -> set[str]:
    with IPRoute() as ipr:
        return {link.get("ifname") for link in ipr.get_links()}
