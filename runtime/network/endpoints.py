"""A container's namespace and its endpoints (one veth per network), in the locked state.

The state keeps, per container id, a record: its namespace path, hostname, extra hosts,
the endpoints (`networks`, in ethN order) and its published ports.
"""

import ipaddress
import shutil
import socket
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from runtime.errors import Conflict, InvalidInput
from runtime.network import ipam, links, proxies
from runtime.network.etcfiles import write_etc_files
from runtime.network.hostsfiles import refresh_hosts
from runtime.network.layout import Layout, digest
from runtime.network.model import Endpoint, NetworkConfig
from runtime.network.state import Snapshot

_COUNTERS = ("rx_bytes", "rx_packets", "tx_bytes", "tx_packets")


def endpoint_of(rec: dict[str, Any], net_id: str) -> dict[str, Any] | None:
    return next((e for e in rec["networks"] if e["network_id"] == net_id), None)


def is_internal(snap: Snapshot, ep: dict[str, Any]) -> bool:
    return snap.networks.get(ep["network_id"], {}).get("internal", False)


def create_netns(
    snap: Snapshot,
    layout: Layout,
    container_id: str,
    hostname: str | None,
    extra_hosts: Iterable[tuple[str, str]] = (),
    dns: Sequence[str] = (),
    search: Sequence[str] = (),
) -> str:
    """The container's record and namespace (with its /etc files), made once; returns the
    namespace's path."""
    rec = snap.endpoints.get(container_id)
    if rec is None:
        rec = {
            "netns": links.netns_path(layout.netns_name(container_id)),
            "hostname": hostname or container_id[:12],
            "extra_hosts": [list(pair) for pair in extra_hosts],
            "networks": [],
            "ports": [],
        }
        snap.endpoints[container_id] = rec
        write_etc_files(
            layout.etc_dir(container_id),
            rec["hostname"],
            None,
            rec["extra_hosts"],
            dns,
            search,
        )
    return links.create_netns(layout.netns_name(container_id))


def attach(
    snap: Snapshot,
    layout: Layout,
    net: NetworkConfig,
    container_id: str,
    ip: str | None,
    aliases: Sequence[str],
    hostname: str | None,
    mac: str | None = None,
    *,
    ip6: str | None = None,
) -> Endpoint:
    """Plug the container into `net` as the next ethN; the first one gets the default route
    (internal networks never do), for IPv6 the first dual-stack one. `ip` and `ip6` are the
    addresses asked for, None for the next free ones."""
    create_netns(snap, layout, container_id, hostname)
    rec = snap.endpoints[container_id]
    if hostname:
        rec["hostname"] = hostname
    if endpoint_of(rec, net.id):
        raise Conflict(f"container {container_id[:12]} is already on network {net.name}")
    address = ipam.allocate(
        snap.ipam.setdefault(net.id, {}),
        net.subnet,
        net.gateway,
        container_id,
        ip,
        ip_range=net.ip_range or None,
    )
    address6, prefixlen6, route6 = "", 0, None
    if net.ipv6:
        pool6 = ipam.family_pool(snap.ipam[net.id], 6)
        address6 = ipam.allocate(pool6, net.subnet6, net.gateway6, container_id, ip6)
        prefixlen6 = ipaddress.IPv6Network(net.subnet6).prefixlen
        if not net.internal and not links.has_default_route(rec["netns"], socket.AF_INET6):
            route6 = net.gateway6
    elif ip6:
        raise InvalidInput(f"network {net.name} has no IPv6 subnet for address {ip6}")
    used = {e["ifname"] for e in rec["networks"]}
    ifname = next(f"eth{n}" for n in range(len(used) + 1) if f"eth{n}" not in used)
    key = digest(container_id, net.id)
    host_ifname = layout.link_name("v", key)
    prefixlen = ipaddress.IPv4Network(net.subnet).prefixlen
    route = None
    if not net.internal and not links.has_default_route(rec["netns"]):
        route = net.gateway
    try:
        mac = links.attach_veth(
            bridge=net.bridge,
            host_ifname=host_ifname,
            ns_path=rec["netns"],
            ifname=ifname,
            ip=address,
            prefixlen=prefixlen,
            default_gateway=route,
            mac=mac,
            ip6=address6,
            prefixlen6=prefixlen6,
            default_gateway6=route6,
            mtu=net.mtu,
        )
    except Exception:
        links.delete_link(host_ifname)
        raise
    endpoint = Endpoint(
        container_id=container_id,
        network=net.name,
        network_id=net.id,
        ifname=ifname,
        host_ifname=host_ifname,
        ip=address,
        prefixlen=prefixlen,
        gateway=net.gateway,
        mac=mac,
        aliases=list(aliases),
        ip6=address6,
        prefixlen6=prefixlen6,
        gateway6=net.gateway6,
    )
    rec["networks"].append(endpoint.to_dict())
    refresh_hosts(snap, layout, net.id)
    return endpoint


def detach(snap: Snapshot, layout: Layout, container_id: str, ep: dict[str, Any]) -> None:
    """Take one endpoint away; the default route moves to the next network with egress."""
    rec = snap.endpoints[container_id]
    drop_endpoint(snap, container_id, ep)
    remaining = [e for e in rec["networks"] if not is_internal(snap, e)]
    if remaining and not links.has_default_route(rec["netns"]):
        links.set_default_route(rec["netns"], remaining[0]["gateway"])
    remaining6 = [e for e in remaining if e.get("ip6")]
    if remaining6 and not links.has_default_route(rec["netns"], socket.AF_INET6):
        links.set_default_route(rec["netns"], remaining6[0]["gateway6"])
    refresh_hosts(snap, layout, ep["network_id"], container_id)


def drop_endpoint(snap: Snapshot, container_id: str, ep: dict[str, Any]) -> None:
    links.delete_link(ep["host_ifname"])
    pool = snap.ipam.get(ep["network_id"], {})
    ipam.release(pool, ep["ip"], container_id)
    if ep.get("ip6"):
        ipam.release(pool.get("v6", {}), ep["ip6"], container_id)
    rec = snap.endpoints[container_id]
    rec["networks"] = [e for e in rec["networks"] if e["network_id"] != ep["network_id"]]


def remove_container(snap: Snapshot, layout: Layout, container_id: str) -> None:
    """Every endpoint, address and the namespace and /etc files of the container."""
    rec = snap.endpoints.get(container_id)
    touched = []
    if rec is not None:
        proxies.stop_all(rec)
        for ep in list(rec["networks"]):
            drop_endpoint(snap, container_id, ep)
            touched.append(ep["network_id"])
        del snap.endpoints[container_id]
    links.remove_netns(layout.netns_name(container_id))
    shutil.rmtree(layout.etc_dir(container_id), ignore_errors=True)
    for net_id in touched:
        refresh_hosts(snap, layout, net_id)


def traffic(endpoints: Iterable[Endpoint]) -> dict[str, dict[str, int]]:
    """Bytes and packets per container interface, read off the host end of each veth
    (what the host end receives, the container sent)."""
    counters = {}
    for ep in endpoints:
        stats = Path("/sys/class/net", ep.host_ifname, "statistics")
        try:
            read = {name: int((stats / name).read_text()) for name in _COUNTERS}
        except (OSError, ValueError):
            continue
        counters[ep.ifname] = {
            "rx_bytes": read["tx_bytes"],
            "rx_packets": read["tx_packets"],
            "tx_bytes": read["rx_bytes"],
            "tx_packets": read["rx_packets"],
        }
    return counters
