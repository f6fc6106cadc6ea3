"""Choosing a subnet for a new network that nothing on the host already uses."""

import ipaddress
from collections.abc import Iterable, Iterator

from pyroute2 import IPRoute

from runtime.errors import RuntimeFailure

Network = ipaddress.IPv4Network


def candidates() -> Iterator[Network]:
    """Docker's order: 172.17-31.0.0/16, then 10.x.0.0/16."""
    for second in range(17, 32):
        yield ipaddress.IPv4Network(f"172.{second}.0.0/16")
    for second in range(256):
        yield ipaddress.IPv4Network(f"10.{second}.0.0/16")


def host_networks() -> list[Network]:
    """Networks of every IPv4 address and non-default route on the host."""
    found: list[Network] = []
    with IPRoute() as ipr:
        for addr in ipr.get_addr(family=2):
            found.append(
                ipaddress.IPv4Network(f"{addr.get('address')}/{addr['prefixlen']}", strict=False)
            )
        for route in ipr.get_routes(family=2, table=254):
            if route.get("dst") and route["dst_len"] > 0:
                found.append(
                    ipaddress.IPv4Network(f"{route.get('dst')}/{route['dst_len']}", strict=False)
                )
    return found


def nameservers(resolv_conf: str = "/etc/resolv.conf") -> list[Network]:
    """The host's resolvers: a subnet holding one would hide it from containers."""
    found = []
    try:
        with open(resolv_conf) as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 2 and parts[0] == "nameserver":
                    try:
                        found.append(ipaddress.IPv4Network(parts[1]))
                    except ValueError:
                        continue
    except FileNotFoundError:
        pass
    return found


def pick_free(taken: Iterable[Network]) -> Network:
    busy = list(taken)
    for candidate in candidates():
        if not any(candidate.overlaps(other) for other in busy):
            return candidate
    raise RuntimeFailure("no free private subnet is left for a new network")
