"""Networks that span nodes, in the locked state: the definition a node takes from the
control plane, and its tunnel brought in line on every apply (see runtime.overlay)."""

from collections.abc import Sequence

from runtime.errors import Conflict, InvalidInput
from runtime.network import definitions, links
from runtime.network.layout import Layout
from runtime.network.model import NetworkConfig
from runtime.network.state import Snapshot
from runtime.overlay import Span, ensure_span, remove_span


def tunnel_name(layout: Layout, net_id: str) -> str:
    return layout.link_name("x", net_id)


def remove_tunnel(layout: Layout, net_id: str) -> None:
    remove_span(tunnel_name(layout, net_id))


def take_definition(
    snap: Snapshot,
    layout: Layout,
    net: NetworkConfig,
    local: str,
    peers: Sequence[str],
    remote_hosts: Sequence[Sequence[str]],
) -> NetworkConfig:
    """The spanning network `net` (made on another node, or here) on this node, with this
    node's tunnel endpoint, its peers and their containers' names."""
    if not net.vni:
        raise InvalidInput(f"network {net.name} has no VNI to span nodes with")
    if net.ipv6:
        raise InvalidInput(f"network {net.name} is dual-stack; only IPv4 networks span nodes")
    if local:
        # Checks the VNI and the addresses before anything is made.
        Span(net.vni, local, tuple(peers))
    data = snap.networks.get(net.id)
    if data is None:
        definitions.check_name(net.name)
        if definitions.find(snap, net.name, by_id=False) is not None:
            raise Conflict(f"network with name {net.name} already exists on this node")
        # Its subnet became a route here too: held clear of this node's other networks.
        definitions.check_subnet(snap, net.subnet, confined=False)
        data = definitions.new_config(
            net.name,
            layout.link_name("b", net.id),
            net.subnet,
            net.gateway,
            net.ip_range or None,
            net.internal,
            net.labels,
            net.id,
        ).to_dict()
        snap.networks[net.id] = data
    elif data["subnet"] != net.subnet or data["gateway"] != net.gateway:
        raise Conflict(f"network {net.name} has another subnet on this node")
    data["vni"] = net.vni
    data["tunnel_local"] = local if peers else ""
    data["tunnel_peers"] = sorted(set(peers)) if local else []
    data["remote_hosts"] = [list(pair) for pair in remote_hosts]
    return NetworkConfig.from_dict(data)


def apply_tunnels(snap: Snapshot, layout: Layout) -> None:
    """Each spanning network's VXLAN device, peers and MTU as the state says; a network no
    other node has loses its device."""
    for data in snap.networks.values():
        if not data.get("vni"):
            continue
        name = tunnel_name(layout, data["id"])
        if not data.get("tunnel_local"):
            remove_span(name)
            continue
        span = Span(data["vni"], data["tunnel_local"], tuple(data["tunnel_peers"]))
        mtu = ensure_span(name, data["bridge"], data["id"], span)
        if data.get("mtu") != mtu:
            data["mtu"] = mtu
            _resize_endpoints(snap, data["id"], mtu)


def _resize_endpoints(snap: Snapshot, net_id: str, mtu: int) -> None:
    # Containers that joined before the network spanned nodes have the kernel's default.
    for rec in snap.endpoints.values():
        for ep in rec["networks"]:
            if ep["network_id"] == net_id:
                links.set_veth_mtu(ep["host_ifname"], rec["netns"], ep["ifname"], mtu)


def tunnel_peers(snap: Snapshot) -> list[str] | None:
    """Every node this one tunnels with; None while no network spans nodes."""
    spanning = [d for d in snap.networks.values() if d.get("tunnel_local")]
    if not spanning:
        return None
    return sorted({peer for d in spanning for peer in d["tunnel_peers"]})
