"""mallory, with a write token over TCP, asks for networks on the host's own address space.

A network's subnet becomes a route on the node, more specific than the ones it overlaps: the
host's traffic to its LAN, its VPN, its resolver or its cloud's metadata service would go to
mallory's containers. The node refuses, with Docker's words and status. Root, with an admin
token, may overlap the host's routes (not its loopback); root's token without the admin scope
reaches no further than mallory's.
"""

import secrets
from collections.abc import Iterator

import pytest
from django.contrib.auth.models import User
from django.test import Client

from accounts.services import do_create_token
from runtime.network import NetworkManager
from runtime.network.subnets import POOL_OVERLAP
from runtime.paths import RuntimePaths
from tests.runtime.network.conftest import host_network_state
from tests.runtime.network.hostnet import HostNets, host_nets

pytestmark = [pytest.mark.django_db, pytest.mark.privileged]


@pytest.fixture
def host(settings, tmp_path) -> Iterator[HostNets]:
    """This node, running its tasks in the test, with networks of a prefix of its own; the
    host's networks as the test made them. Everything is gone afterwards."""
    prefix = "dyt" + secrets.token_hex(2)
    before = host_network_state(prefix)
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.DOCKYARD_NETWORK_PREFIX = prefix
    settings.DOCKYARD_ROOT = tmp_path / "root"
    try:
        with host_nets(prefix) as nets:
            yield nets
    finally:
        paths = RuntimePaths(root=settings.DOCKYARD_ROOT, run=settings.DOCKYARD_RUN_DIR)
        NetworkManager(paths, prefix=prefix).teardown()
    assert host_network_state(prefix) == before


def client(user: User, scopes: list[str]) -> Client:
    _, secret = do_create_token(user, "cli", scopes)
    return Client(HTTP_AUTHORIZATION=f"Bearer {secret}")


def create(caller: Client, name: str, **pool: str):
    return caller.post(
        "/v1.47/networks/create",
        {"Name": name, "IPAM": {"Config": [pool]}},
        content_type="application/json",
    )


def names(caller: Client) -> set[str]:
    return {n["Name"] for n in caller.get("/v1.47/networks").json()}


def slice_of(cidr: str) -> str:
    """The upper half of a range: a more specific route, which wins over the host's."""
    base, length = cidr.split("/")
    octets = base.split(".")
    octets[3] = "128"
    return f"{'.'.join(octets)}/{int(length) + 1}"


# (what mallory reaches for, the subnet asked for, what the refusal says)
REACHES = [
    ("the host's LAN", lambda h: h.lan, "the address {address} of {link}"),
    ("half of the host's LAN", lambda h: slice_of(h.lan), "the address {address} of {link}"),
    ("a VPN's policy-routed range", lambda h: h.vpn, "the host's route to {vpn} on {link}"),
    ("the host's loopback", lambda h: "127.0.0.0/24", "the loopback range"),
    ("the cloud metadata address", lambda h: "169.254.169.0/24", "the link-local range"),
    ("multicast", lambda h: "224.0.0.0/24", "the multicast range"),
    ("'this network'", lambda h: "0.0.0.0/16", "the 'this network' range"),
]


@pytest.mark.parametrize(("reach", "subnet", "said"), REACHES, ids=[r[0] for r in REACHES])
def test_a_user_cannot_take_the_hosts_address_space(host, reach, subnet, said):
    mallory = client(User.objects.create_user("mallory"), ["read", "write"])
    wanted = subnet(host)
    response = create(mallory, "grab", Subnet=wanted)
    assert response.status_code == 403, response.content
    message = response.json()["message"]
    assert message.startswith(f"{POOL_OVERLAP}: {wanted} overlaps ")
    assert said.format(address=host.address, link=host.link, vpn=host.vpn) in message
    assert "grab" not in names(mallory)


def test_a_user_cannot_take_a_public_range_the_host_reaches_through_its_gateway(host):
    mallory = client(User.objects.create_user("mallory"), ["read", "write"])
    response = create(mallory, "grab", Subnet="151.101.0.0/16")
    assert response.status_code == 403
    assert "other subnets are for administrators" in response.json()["message"]


@pytest.mark.parametrize(
    ("pool", "said"),
    [
        ({"Subnet": "10.252.9.0/24", "Gateway": "{address}"}, "is not a usable address"),
        ({"Subnet": "10.252.9.0/24", "IPRange": "{lan}"}, "is not in subnet"),
        ({"IPRange": "{lan}"}, "needs a subnet"),
    ],
    ids=["a gateway on the host's LAN", "an ip-range on the host's LAN", "an ip-range alone"],
)
def test_a_gateway_or_ip_range_cannot_reach_out_of_the_subnet(host, pool, said):
    mallory = client(User.objects.create_user("mallory"), ["read", "write"])
    asked = {k: v.format(address=host.address.split("/")[0], lan=host.lan) for k, v in pool.items()}
    response = create(mallory, "grab", **asked)
    assert response.status_code == 400, response.content
    assert said in response.json()["message"]
    assert "grab" not in names(mallory)


def test_an_administrator_may_overlap_the_hosts_routes_but_not_its_loopback(host):
    root_user = User.objects.create_superuser("root")
    ci = client(root_user, ["read", "write"])
    refused = create(ci, "vpnpart", Subnet=slice_of(host.vpn))
    assert refused.status_code == 403
    assert refused.json()["message"].startswith(POOL_OVERLAP)

    root = client(root_user, ["admin"])
    made = create(root, "vpnpart", Subnet=slice_of(host.vpn))
    assert made.status_code == 201, made.content
    assert "vpnpart" in names(root)
    loopback = create(root, "lo", Subnet="127.0.0.0/24")
    assert loopback.status_code == 403
    assert "the loopback range" in loopback.json()["message"]
    assert root.delete("/v1.47/networks/vpnpart").status_code == 204


@pytest.mark.parametrize(
    ("subnet", "said"),
    [
        ("2a00:1450:4001::/64", "other subnets are for administrators"),
        ("fe80::/64", "the link-local range"),
        ("::/96", "the loopback and IPv4-mapped range"),
    ],
    ids=["a public IPv6 range", "IPv6 link-local", "IPv4-mapped addresses"],
)
def test_a_user_cannot_take_ipv6_space_beyond_unique_local_and_documentation(host, subnet, said):
    mallory = client(User.objects.create_user("mallory"), ["read", "write"])
    response = mallory.post(
        "/v1.47/networks/create",
        {"Name": "grab", "EnableIPv6": True, "IPAM": {"Config": [{"Subnet": subnet}]}},
        content_type="application/json",
    )
    assert response.status_code == 403, response.content
    assert said in response.json()["message"]
    assert "grab" not in names(mallory)
