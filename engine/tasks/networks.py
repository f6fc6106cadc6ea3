"""Network tasks, and the container network steps the container tasks run on the worker.

A container's network plan (built by engine.services.networks) names its mode and, for
`bridge`/`none` modes, the networks to join, the ports to publish and its /etc files. The
start task brings the runtime in line with the plan, so a restart reuses what is there and a
namespace lost to a reboot is made again.
"""

import os

from django.conf import settings

from runtime.network import NetworkManager, PortBinding, write_etc_files
from runtime.network import links as netlinks
from runtime.paths import RuntimePaths

from .base import runtime_task

OWN_NAMESPACE_MODES = ("bridge", "none")


def network_manager(paths: RuntimePaths) -> NetworkManager:
    return NetworkManager(paths, prefix=settings.DOCKYARD_NETWORK_PREFIX)


def namespace_for(paths: RuntimePaths, cid: str, network: dict | None) -> dict:
    """`network_ns` and `etc_dir` of the container's ContainerSpec for its network mode."""
    mode = (network or {}).get("mode", "bridge")
    manager = network_manager(paths)
    if mode == "host":
        return {"network_ns": "host", "etc_dir": str(manager.etc_dir(cid))}
    if mode == "container":
        owner = network["container"]
        return {
            "network_ns": netlinks.netns_path(manager.netns_name(owner)),
            "etc_dir": str(manager.etc_dir(owner)),
        }
    return {
        "network_ns": netlinks.netns_path(manager.netns_name(cid)),
        "etc_dir": str(manager.etc_dir(cid)),
    }


def setup_container_network(paths: RuntimePaths, cid: str, plan: dict) -> dict:
    """Namespace, endpoints and published ports as the plan says; returns what the container
    has: `{"endpoints": [...], "ports": [...]}`."""
    manager = network_manager(paths)
    mode = plan["mode"]
    extra_hosts = [tuple(pair) for pair in plan.get("extra_hosts", [])]
    if mode == "host":
        etc = manager.etc_dir(cid)
        if not (etc / "hosts").exists():
            write_etc_files(
                etc,
                plan["hostname"],
                None,
                extra_hosts,
                plan.get("dns", []),
                plan.get("dns_search", []),
            )
        return {"endpoints": [], "ports": []}
    if mode not in OWN_NAMESPACE_MODES:
        return {"endpoints": [], "ports": []}
    ns = netlinks.netns_path(manager.netns_name(cid))
    known = manager.state.read().endpoints.get(cid)
    wanted = {n["id"]: n for n in plan.get("networks", [])} if mode == "bridge" else {}
    if known is not None and not os.path.exists(ns):
        manager.remove_netns(cid)
        known = None
    if known is not None and known["extra_hosts"] != [list(pair) for pair in extra_hosts]:
        manager.set_extra_hosts(cid, extra_hosts)
    customised = extra_hosts or plan.get("dns") or plan.get("dns_search")
    # `connect` makes a plain namespace itself; each namespace call costs a netlink socket.
    if known is None and (customised or not wanted):
        manager.create_netns(
            cid,
            hostname=plan["hostname"],
            extra_hosts=extra_hosts,
            dns=plan.get("dns", []),
            search=plan.get("dns_search", []),
        )
    have = {e.network_id for e in manager.endpoints(cid)}
    for net_id in have - wanted.keys():
        manager.disconnect(cid, net_id)
    for net_id, n in wanted.items():
        if net_id not in have:
            manager.connect(
                cid,
                net_id,
                ip=n.get("ip") or None,
                aliases=n.get("aliases", []),
                hostname=plan["hostname"],
                mac=n.get("mac") or None,
                ip6=n.get("ip6") or None,
            )
    ports = manager.published(cid)
    if plan.get("ports") and not ports and wanted:
        ports = manager.publish(cid, [PortBinding.from_dict(p) for p in plan["ports"]])
    return {
        "endpoints": [e.to_dict() for e in manager.endpoints(cid)],
        "ports": [p.to_dict() for p in ports],
    }


def release_container_network(paths: RuntimePaths, cid: str) -> None:
    network_manager(paths).remove_netns(cid)


@runtime_task
def ensure_default_network(paths: RuntimePaths) -> dict:
    return network_manager(paths).ensure_default().to_dict()


@runtime_task
def list_networks(paths: RuntimePaths) -> list[dict]:
    return [n.to_dict() for n in network_manager(paths).list_networks()]


@runtime_task
def create_network(
    paths: RuntimePaths,
    name: str,
    subnet: str | None,
    gateway: str | None,
    internal: bool,
    labels: dict,
    ip_range: str | None = None,
    confined: bool = True,
    ipv6: bool = False,
    subnet6: str | None = None,
    gateway6: str | None = None,
) -> dict:
    """`confined` is for anyone but an administrator (see runtime.network.subnets)."""
    net = network_manager(paths).create_network(
        name,
        subnet=subnet,
        gateway=gateway,
        internal=internal,
        labels=labels,
        ip_range=ip_range,
        confined=confined,
        ipv6=ipv6,
        subnet6=subnet6,
        gateway6=gateway6,
    )
    return net.to_dict()


@runtime_task
def remove_network(paths: RuntimePaths, net_id: str) -> None:
    network_manager(paths).remove_network(net_id)


@runtime_task
def connect_container(
    paths: RuntimePaths,
    cid: str,
    net_id: str,
    ip: str | None,
    aliases: list,
    hostname: str,
    ip6: str | None = None,
) -> dict:
    """Plug a running container into one more network."""
    return (
        network_manager(paths)
        .connect(cid, net_id, ip=ip, aliases=aliases, hostname=hostname, ip6=ip6)
        .to_dict()
    )


@runtime_task
def disconnect_container(paths: RuntimePaths, cid: str, net_id: str) -> None:
    network_manager(paths).disconnect(cid, net_id)


def recover_node_network(paths: RuntimePaths, live_ids: list[str]) -> list[dict]:
    """At node start: bridges and firewall rules back from the saved state (after a reboot or
    `nft flush ruleset`), leftovers of removed containers gone; returns the networks."""
    manager = network_manager(paths)
    manager.ensure_default()
    manager.cleanup_stale(live_ids)
    return [n.to_dict() for n in manager.list_networks()]
