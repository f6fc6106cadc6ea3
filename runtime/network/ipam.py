"""Address allocation inside one subnet (IPv4 or IPv6), on the `ipam` part of the locked state.

Addresses are handed out in order after the last one given (as Docker does), so a
freed address is not reused at once by the next container.
"""

import ipaddress
from typing import Any

from runtime.errors import Conflict, InvalidInput, RuntimeFailure


def allocate(
    pool: dict[str, Any],
    subnet: str,
    gateway: str,
    owner: str,
    requested: str | None = None,
    *,
    ip_range: str | None = None,
) -> str:
    """Reserve an address of `subnet` for `owner`; `pool` is one network's IPAM record.

    Automatic addresses come from `ip_range` when given; a requested one may be anywhere in
    the subnet (as with Docker, which keeps the range for the addresses it picks itself).
    """
    net = ipaddress.ip_network(subnet)
    # By the subnet's family: an IPv6 address below 2**32 is not an IPv4 one.
    kind = type(net.network_address)
    used: dict[str, str] = pool.setdefault("allocated", {})
    if requested:
        try:
            addr = kind(requested)
        except ValueError:
            raise InvalidInput(f"address {requested} is not usable in subnet {subnet}") from None
        if addr not in net or addr in (net.network_address, net.broadcast_address):
            raise InvalidInput(f"address {requested} is not usable in subnet {subnet}")
        if str(addr) == gateway or used.get(str(addr), owner) != owner:
            raise Conflict(f"address {requested} is already in use")
        used[str(addr)] = owner
        return str(addr)
    first = int(net.network_address) + 1
    final = int(net.broadcast_address) - 1
    if ip_range:
        within = ipaddress.ip_network(ip_range)
        first = max(first, int(within.network_address))
        final = min(final, int(within.broadcast_address))
    hosts = max(final - first + 1, 0)
    last = pool.get("last")
    start = (int(kind(last)) - first + 1) if last else 0
    for step in range(hosts):
        candidate = str(kind(first + (start + step) % hosts))
        if candidate != gateway and candidate not in used:
            used[candidate] = owner
            pool["last"] = candidate
            return candidate
    raise RuntimeFailure(f"no free address left in {ip_range or subnet}")


def family_pool(pool: dict[str, Any], version: int) -> dict[str, Any]:
    """A network's IPAM record holds its IPv4 addresses; a dual-stack network's IPv6 ones are
    in a record of their own inside it."""
    return pool if version == 4 else pool.setdefault("v6", {})


def release(pool: dict[str, Any], address: str, owner: str) -> None:
    used = pool.get("allocated", {})
    if used.get(address) == owner:
        del used[address]
