"""A stand-in for the host's own networks: a link with a LAN address and a VPN's route.

The tests cannot count on what the machine's real routes are, so they give the host a LAN and
a policy-routed VPN range of their own, named with the test's prefix, and remove both (the
link takes its address and routes with it) however the test ends.
"""

import contextlib
import ipaddress
import secrets
from collections.abc import Iterator
from dataclasses import dataclass

from pyroute2 import IPRoute

from runtime.network import links
from runtime.network.subnets import host_networks


@dataclass(frozen=True)
class HostNets:
    link: str
    address: str  # the host's address on its LAN, with its prefix length
    lan: str
    vpn: str  # routed in a table of its own, as WireGuard or Tailscale do
    vpn_table: int


def _unused(pattern: str) -> ipaddress.IPv4Network:
    taken = host_networks()
    for _ in range(100):
        net = ipaddress.IPv4Network(pattern.format(secrets.randbelow(200) + 20))
        if not any(net.overlaps(other) for other in taken):
            return net
    raise AssertionError(f"no free {pattern} on this host")


@contextlib.contextmanager
def host_nets(prefix: str) -> Iterator[HostNets]:
    link = f"{prefix}lan"
    lan = _unused("10.{}.77.0/24")
    vpn = _unused("192.168.{}.0/24")
    table = 20000 + secrets.randbelow(10000)
    address = str(lan.network_address + 10)
    try:
        with IPRoute() as ipr:
            # A bridge, not a dummy: Dockyard's hosts all have bridges, not all have dummy.
            ipr.link("add", ifname=link, kind="bridge")
            index = ipr.link_lookup(ifname=link)[0]
            ipr.link("set", index=index, state="up")
            ipr.addr("add", index=index, address=address, prefixlen=lan.prefixlen)
            ipr.route("add", dst=str(vpn), oif=index, table=table)
        yield HostNets(link, f"{address}/{lan.prefixlen}", str(lan), str(vpn), table)
    finally:
        links.delete_link(link)
