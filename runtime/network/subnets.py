"""The host's own address space, and which subnets a new network may take beside it.

A bridge's subnet becomes a connected route on the host, and a route more specific than
another wins: once a network holds a range, whatever the host (or a container of another
tenant, routed through the host) sends to an address in it goes to that bridge, that is, to
whoever runs a container there. A network on the host's LAN, its VPN's routes, its resolver
or a cloud's metadata address (169.254.169.254) would capture that traffic. So new networks
keep clear of every address, route and nameserver of the host; default subnets are picked
among the ones nothing uses, as Docker picks them.
"""

import ipaddress
import socket
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from pyroute2 import IPRoute

from runtime.errors import Forbidden, RuntimeFailure

Network = ipaddress.IPv4Network
Network6 = ipaddress.IPv6Network
AnyNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Docker's wording when a pool overlaps another; the CLI prints it as it is.
POOL_OVERLAP = "Pool overlaps with other one on this address space"

# Ranges that are never a link's subnet: their addresses are not unicast on a LAN (loopback,
# multicast, "this network", class E and broadcast), or belong to each link on its own
# (link-local, where clouds answer metadata and credentials requests).
RESERVED: tuple[tuple[Network, str], ...] = (
    (Network("0.0.0.0/8"), "the 'this network' range"),
    (Network("127.0.0.0/8"), "the loopback range"),
    (Network("169.254.0.0/16"), "the link-local range"),
    (Network("224.0.0.0/4"), "the multicast range"),
    (Network("240.0.0.0/4"), "the reserved range"),
)

RESERVED6: tuple[tuple[Network6, str], ...] = (
    # ::1, ::, IPv4-mapped and -compatible addresses.
    (Network6("::/8"), "the loopback and IPv4-mapped range"),
    (Network6("fe80::/10"), "the link-local range"),
    (Network6("ff00::/8"), "the multicast range"),
)

# RFC 1918: the only ranges a non-administrator's network may take. Outside them a subnet
# would capture the host's traffic to public addresses (its mirrors, registries, databases)
# that it reaches through its default route, which no overlap check can see.
PRIVATE: tuple[Network, ...] = (
    Network("10.0.0.0/8"),
    Network("172.16.0.0/12"),
    Network("192.168.0.0/16"),
)

# IPv6's counterparts: unique local addresses (RFC 4193) and the documentation range (RFC 3849),
# which no host reaches through its default route either.
PRIVATE6: tuple[Network6, ...] = (
    Network6("fc00::/7"),
    Network6("2001:db8::/32"),
)


@dataclass(frozen=True)
class Claim:
    """A range the host uses, and what uses it (for the error a user reads)."""

    network: AnyNetwork
    what: str


def candidates() -> Iterator[Network]:
    """Docker's order: 172.17-31.0.0/16, then 10.x.0.0/16."""
    for second in range(17, 32):
        yield ipaddress.IPv4Network(f"172.{second}.0.0/16")
    for second in range(256):
        yield ipaddress.IPv4Network(f"10.{second}.0.0/16")


def host_claims(family: int = socket.AF_INET) -> list[Claim]:
    """Every address of the host (with its prefix) and every route but the default ones, of
    one family, in every routing table: policy routing (a VPN's table, say) reaches as far as
    the main."""
    found: list[Claim] = []
    with IPRoute() as ipr:
        names = {link["index"]: link.get("ifname") for link in ipr.get_links()}
        for addr in ipr.get_addr(family=family):
            cidr = f"{addr.get('address')}/{addr['prefixlen']}"
            found.append(
                Claim(
                    ipaddress.ip_network(cidr, strict=False),
                    f"the address {cidr} of {names.get(addr['index'], 'the host')}",
                )
            )
        for route in ipr.get_routes(family=family):
            if not route.get("dst") or route["dst_len"] == 0:
                continue
            cidr = f"{route.get('dst')}/{route['dst_len']}"
            device = names.get(route.get("oif"))
            found.append(
                Claim(
                    ipaddress.ip_network(cidr, strict=False),
                    f"the host's route to {cidr}" + (f" on {device}" if device else ""),
                )
            )
    return found


def host_networks() -> list[Network]:
    """Networks of every IPv4 address and non-default route on the host."""
    return [claim.network for claim in host_claims()]


def nameservers(resolv_conf: str = "/etc/resolv.conf") -> list[AnyNetwork]:
    """The host's resolvers: a subnet holding one would hide it from containers."""
    found = []
    try:
        with open(resolv_conf) as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 2 and parts[0] == "nameserver":
                    try:
                        found.append(ipaddress.ip_network(parts[1].split("%")[0]))
                    except ValueError:
                        continue
    except FileNotFoundError:
        pass
    return found


def taken_by_host() -> list[Network]:
    """What a default subnet must avoid on this host."""
    servers = [net for net in nameservers() if net.version == 4]
    return host_networks() + servers + [net for net, _ in RESERVED]


def pick_free(taken: Iterable[Network]) -> Network:
    busy = list(taken)
    for candidate in candidates():
        if not any(candidate.overlaps(other) for other in busy):
            return candidate
    raise RuntimeFailure("no free private subnet is left for a new network")


def check_reach(subnet: AnyNetwork, *, confined: bool) -> None:
    """Refuse a requested subnet that would take addresses the host keeps for itself.

    Nobody may take a reserved range. A confined caller (anyone but an administrator) may take
    only private ranges clear of every address, route and nameserver of the host.
    Administrators may overlap the host's routes, as Docker's users may: they already may
    give a container the host's network, and a deliberate overlap (a part of a VPN's range,
    say) is theirs to make.
    """
    v4 = subnet.version == 4
    for net, what in RESERVED if v4 else RESERVED6:
        if subnet.overlaps(net):
            raise Forbidden(f"{POOL_OVERLAP}: {subnet} overlaps {what} {net}")
    if not confined:
        return
    private = PRIVATE if v4 else PRIVATE6
    if not any(subnet.subnet_of(net) for net in private):
        ranges = ", ".join(str(net) for net in private)
        raise Forbidden(
            f"subnet {subnet} is outside the private ranges ({ranges}): "
            "other subnets are for administrators"
        )
    servers = [ns for ns in nameservers() if ns.version == subnet.version]
    claims = host_claims() if v4 else host_claims(socket.AF_INET6)
    claims += [Claim(ns, f"the host's nameserver {ns[0]}") for ns in servers]
    for claim in claims:
        if subnet.overlaps(claim.network):
            raise Forbidden(f"{POOL_OVERLAP}: {subnet} overlaps {claim.what}")
