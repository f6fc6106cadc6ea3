"""Values the network layer hands to callers and keeps on disk."""

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class NetworkConfig:
    name: str
    id: str
    bridge: str
    subnet: str
    gateway: str
    internal: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    created: str = ""
    # Where automatic addresses come from (Docker's --ip-range); "" is the whole subnet.
    ip_range: str = ""
    # Dual stack (Docker's --ipv6): the IPv6 subnet and its gateway; "" for IPv4 only.
    subnet6: str = ""
    gateway6: str = ""
    # Spanning nodes (runtime.overlay): the network's VNI (0: this node's alone), the address
    # this node's tunnel sends from ("" while no other node has the network), the other
    # nodes' addresses, and (names, address) pairs of their containers for the hosts files.
    vni: int = 0
    tunnel_local: str = ""
    tunnel_peers: list[str] = field(default_factory=list)
    remote_hosts: list[list[str]] = field(default_factory=list)
    # The MTU of the bridge and its veths: 0 for the kernel's default, less under a tunnel.
    mtu: int = 0

    @property
    def ipv6(self) -> bool:
        return bool(self.subnet6)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "NetworkConfig":
        return cls(**data)


@dataclass
class Endpoint:
    """One container's attachment to one network."""

    container_id: str
    network: str
    network_id: str
    ifname: str
    host_ifname: str
    ip: str
    prefixlen: int
    gateway: str
    mac: str
    aliases: list[str] = field(default_factory=list)
    # On a dual-stack network; "" and 0 otherwise.
    ip6: str = ""
    prefixlen6: int = 0
    gateway6: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Endpoint":
        return cls(**data)


@dataclass
class PortBinding:
    """`host_ip:host_port -> container_port/proto`; host_port 0 asks for a free port."""

    host_ip: str
    host_port: int
    container_port: int
    proto: str = "tcp"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "PortBinding":
        return cls(**data)
