"""What a node needs to join its bridge of a network to the other nodes' bridges."""

import hashlib
import ipaddress
from dataclasses import dataclass, field

from runtime.errors import InvalidInput

# IANA's VXLAN port (Linux's own default, 8472, predates it).
VXLAN_PORT = 4789
# Outer Ethernet 14 + IPv4 20 + UDP 8 + VXLAN 8: what a frame grows by on the nodes' link.
VXLAN_OVERHEAD = 50
MAX_VNI = (1 << 24) - 1


@dataclass(frozen=True)
class Span:
    """One network's tunnel on this node: its VNI, the address this node's tunnel endpoint
    sends from, and the other nodes' endpoints (unicast: one FDB entry each, no multicast)."""

    vni: int
    local: str
    peers: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if not 1 <= self.vni <= MAX_VNI:
            raise InvalidInput(f"VNI {self.vni} is not in 1-{MAX_VNI}")
        for address in (self.local, *self.peers):
            try:
                ipaddress.IPv4Address(address)
            except ValueError:
                raise InvalidInput(f"tunnel endpoint {address!r} is not an IPv4 address") from None
        if self.local in self.peers:
            raise InvalidInput(f"tunnel endpoint {self.local} is both local and a peer")


def bridge_mac(net_id: str) -> str:
    """The same locally administered unicast MAC on every node's bridge of the network.

    Each node's bridge holds the gateway address, so an ARP request for it crosses the tunnel
    and every node answers. With one MAC for all of them the answers agree, and a bridge drops
    a frame from a remote node that carries its own MAC as source, so the gateway a container
    uses is always its own node's (its NAT and conntrack are there).
    """
    raw = bytearray(hashlib.sha256(f"bridge/{net_id}".encode()).digest()[:6])
    raw[0] = (raw[0] | 0x02) & 0xFE
    return ":".join(f"{b:02x}" for b in raw)


def overlay_mtu(link_mtu: int) -> int:
    """The MTU inside the tunnel: an encapsulated full frame must still fit the nodes' link."""
    return link_mtu - VXLAN_OVERHEAD
