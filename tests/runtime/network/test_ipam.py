import ipaddress
from concurrent.futures import ProcessPoolExecutor

import pytest

from runtime.errors import Conflict, InvalidInput, RuntimeFailure
from runtime.network import NetworkManager, ipam
from runtime.network.state import NetworkState


def test_it_skips_the_gateway_and_hands_out_addresses_in_order():
    pool = {}
    got = [ipam.allocate(pool, "10.9.0.0/29", "10.9.0.1", f"c{i}") for i in range(5)]
    assert got == ["10.9.0.2", "10.9.0.3", "10.9.0.4", "10.9.0.5", "10.9.0.6"]
    with pytest.raises(RuntimeFailure, match="no free address"):
        ipam.allocate(pool, "10.9.0.0/29", "10.9.0.1", "c5")


def test_it_does_not_reuse_a_freed_address_at_once():
    pool = {}
    first = ipam.allocate(pool, "10.9.0.0/24", "10.9.0.1", "a")
    ipam.release(pool, first, "a")
    assert ipam.allocate(pool, "10.9.0.0/24", "10.9.0.1", "b") != first


def test_it_gives_a_requested_address_once():
    pool = {}
    assert ipam.allocate(pool, "10.9.0.0/24", "10.9.0.1", "a", "10.9.0.50") == "10.9.0.50"
    with pytest.raises(Conflict):
        ipam.allocate(pool, "10.9.0.0/24", "10.9.0.1", "b", "10.9.0.50")
    with pytest.raises(Conflict):
        ipam.allocate(pool, "10.9.0.0/24", "10.9.0.1", "b", "10.9.0.1")
    with pytest.raises(InvalidInput):
        ipam.allocate(pool, "10.9.0.0/24", "10.9.0.1", "b", "10.8.0.5")


def test_release_by_another_owner_keeps_the_address():
    pool = {}
    addr = ipam.allocate(pool, "10.9.0.0/24", "10.9.0.1", "a")
    ipam.release(pool, addr, "b")
    assert pool["allocated"] == {addr: "a"}


def _fake_network(paths) -> None:
    """A network record without a bridge: enough for address allocation."""
    with NetworkState(paths.root / "network").locked() as snap:
        snap.networks["f" * 64] = {
            "name": "web",
            "id": "f" * 64,
            "bridge": "unused",
            "subnet": "10.77.0.0/24",
            "gateway": "10.77.0.1",
            "internal": False,
            "labels": {},
            "created": "",
        }


def _allocate(args) -> str:
    paths, owner = args
    return NetworkManager(paths, prefix="dyipam").allocate_address("web", owner)


def test_it_gives_50_concurrent_allocations_distinct_addresses_that_survive_a_restart(
    runtime_paths,
):
    _fake_network(runtime_paths)
    with ProcessPoolExecutor(max_workers=10) as pool:
        got = list(pool.map(_allocate, [(runtime_paths, f"c{i}") for i in range(50)]))
    assert len(set(got)) == 50
    assert all(ipaddress.ip_address(a) in ipaddress.ip_network("10.77.0.0/24") for a in got)

    again = NetworkManager(runtime_paths, prefix="dyipam")
    assert again.allocate_address("web", "late") not in got
    with pytest.raises(Conflict):
        again.allocate_address("web", "thief", ip=got[0])


def test_automatic_addresses_come_from_the_ip_range_and_requested_ones_from_the_subnet():
    pool = {}
    got = [
        ipam.allocate(pool, "10.9.0.0/24", "10.9.0.1", f"c{i}", ip_range="10.9.0.0/30")
        for i in range(2)
    ]
    # The subnet's own address and the gateway stay out, even inside the range.
    assert got == ["10.9.0.2", "10.9.0.3"]
    with pytest.raises(RuntimeFailure, match="no free address left in 10.9.0.0/30"):
        ipam.allocate(pool, "10.9.0.0/24", "10.9.0.1", "c2", ip_range="10.9.0.0/30")
    assert ipam.allocate(pool, "10.9.0.0/24", "10.9.0.1", "c3", "10.9.0.200") == "10.9.0.200"


def test_ipv6_addresses_come_in_order_from_a_pool_of_their_own():
    record = {}
    v4 = ipam.allocate(record, "10.9.0.0/24", "10.9.0.1", "a")
    pool6 = ipam.family_pool(record, 6)
    got = [ipam.allocate(pool6, "fd00:1::/64", "fd00:1::1", f"c{i}") for i in range(2)]
    assert got == ["fd00:1::2", "fd00:1::3"]
    assert record["allocated"] == {v4: "a"} and set(record["v6"]["allocated"]) == set(got)
    # An address of the other family, or below 2**32, is still an IPv6 address here.
    with pytest.raises(InvalidInput):
        ipam.allocate(pool6, "fd00:1::/64", "fd00:1::1", "x", "10.9.0.7")
    small = ipam.allocate({}, "::100:0/120", "::100:1", "y")
    assert ipaddress.ip_address(small).version == 6
