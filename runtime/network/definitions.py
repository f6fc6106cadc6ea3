"""Network definitions in the locked state: lookup, and the checks a new network passes."""

import ipaddress
import re
import secrets
from datetime import UTC, datetime

from runtime.errors import Forbidden, InvalidInput, NotFound
from runtime.network import subnets
from runtime.network.model import NetworkConfig
from runtime.network.state import Snapshot

_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")
# Docker's words (before 27, which has no default IPv6 pools either) for --ipv6 without a subnet.
NO_IPV6_POOL = (
    "could not find an available, non-overlapping IPv6 address pool among the defaults to "
    "assign to the network"
)


def check_name(name: str) -> None:
    if not name or not _NAME.match(name):
        raise InvalidInput(f"invalid network name {name!r}")


def find(snap: Snapshot, key: str, by_id: bool = True) -> NetworkConfig | None:
    """The network named `key`, or (with `by_id`) of that id or unique id prefix."""
    nets = [NetworkConfig.from_dict(d) for d in snap.networks.values()]
    for net in nets:
        if net.name == key or (by_id and net.id == key):
            return net
    if by_id and len(key) >= 3:
        matches = [n for n in nets if n.id.startswith(key)]
        if len(matches) == 1:
            return matches[0]
    return None


def get(snap: Snapshot, key: str) -> NetworkConfig:
    net = find(snap, key)
    if net is None:
        raise NotFound(f"network {key} not found")
    return net


def taken_subnets(snap: Snapshot) -> list[ipaddress.IPv4Network]:
    return [ipaddress.IPv4Network(n["subnet"]) for n in snap.networks.values()]


def new_config(
    name: str,
    bridge: str,
    subnet: str,
    gateway: str | None,
    ip_range: str | None,
    internal: bool,
    labels: dict[str, str],
    net_id: str | None = None,
    subnet6: str | None = None,
    gateway6: str | None = None,
) -> NetworkConfig:
    """A network's definition; a gateway not given is the subnet's first address (Docker's
    default), for each family."""
    net = ipaddress.IPv4Network(subnet)
    if gateway is None:
        gateway = str(net.network_address + 1)
    else:
        gateway = str(address_in(net, gateway, "gateway"))
    if ip_range:
        try:
            within = ipaddress.IPv4Network(ip_range, strict=False)
        except ValueError as err:
            raise InvalidInput(f"invalid ip-range {ip_range}: {err}") from None
        # Inside the subnet, so it is held to what the subnet was checked against.
        if not within.subnet_of(net):
            raise InvalidInput(f"ip-range {within} is not in subnet {net}")
        ip_range = str(within)
    if subnet6:
        net6 = ipaddress.IPv6Network(subnet6)
        gateway6 = str(address_in(net6, gateway6, "gateway") if gateway6 else net6[1])
    elif gateway6:
        raise InvalidInput("an IPv6 gateway needs an IPv6 subnet to lie in")
    return NetworkConfig(
        name=name,
        id=net_id or secrets.token_hex(32),
        bridge=bridge,
        subnet=str(net),
        gateway=gateway,
        internal=internal,
        labels=dict(labels),
        created=datetime.now(UTC).isoformat(),
        ip_range=ip_range or "",
        subnet6=subnet6 or "",
        gateway6=gateway6 or "",
    )


def address_in(
    net: subnets.AnyNetwork, text: str, what: str
) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    kind = type(net.network_address)
    try:
        addr = kind(text)
    except ValueError:
        family = "IPv4" if net.version == 4 else "IPv6"
        raise InvalidInput(f"invalid {what} {text}: not an {family} address") from None
    if addr not in net or addr in (net.network_address, net.broadcast_address):
        raise InvalidInput(f"{what} {addr} is not a usable address of subnet {net}")
    return addr


def check_subnet(snap: Snapshot, subnet: str, confined: bool, version: int = 4) -> str:
    """`subnet` normalised, once it is of the family asked, clear of every other network's
    and within the caller's reach (see subnets.check_reach)."""
    kind = ipaddress.IPv4Network if version == 4 else ipaddress.IPv6Network
    try:
        net = kind(subnet, strict=False)
    except ValueError as err:
        raise InvalidInput(f"invalid subnet {subnet}: {err}") from None
    # Room for a gateway and a container at least.
    if net.prefixlen > net.max_prefixlen - 2:
        raise InvalidInput(f"subnet {subnet} is too small")
    key = "subnet" if version == 4 else "subnet6"
    for data in snap.networks.values():
        if data.get(key) and net.overlaps(kind(data[key])):
            raise Forbidden(
                f"{subnets.POOL_OVERLAP}: {net} overlaps {data[key]} of network {data['name']}"
            )
    subnets.check_reach(net, confined=confined)
    return str(net)
