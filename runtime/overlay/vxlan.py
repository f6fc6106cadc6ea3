"""The VXLAN device of a spanning network on this node, through pyroute2.

Unicast only: the device has no multicast group; broadcast and unknown frames go to every
peer through an all-zero FDB entry per peer (what `bridge fdb append 00:00:00:00:00:00 dst
<peer>` makes), and the device learns remote MACs from what arrives.
"""

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from runtime.errors import InvalidInput
from runtime.overlay.model import VXLAN_PORT, Span, bridge_mac, overlay_mtu

_FLOOD = "00:00:00:00:00:00"


def _link_mtu(ipr: IPRoute, address: str) -> int:
    for addr in ipr.get_addr(family=2):
        if addr.get("address") == address:
            return ipr.get_links(addr["index"])[0].get("mtu")
    raise InvalidInput(f"tunnel endpoint {address} is not an address of this node")


def _flood_peers(ipr: IPRoute, index: int) -> set[str]:
    found = set()
    for entry in ipr.fdb("dump", ifindex=index):
        if entry.get("ifindex") == index and entry.get("lladdr") == _FLOOD:
            dst = entry.get("dst")
            if dst:
                found.add(dst)
    return found


def ensure_span(name: str, bridge: str, net_id: str, span: Span) -> int:
    """Make (or bring in line) the VXLAN device `name` on `bridge`, with an FDB entry for each
    peer and none for former ones; returns the MTU given to the bridge and its ports."""
    with IPRoute() as ipr:
        mtu = overlay_mtu(_link_mtu(ipr, span.local))
        found = ipr.link_lookup(ifname=name)
        if found:
            data = ipr.get_links(found[0])[0].get(("linkinfo", "data"))
            if data is None or (
                data.get("vxlan_id"),
                data.get("vxlan_local"),
            ) != (span.vni, span.local):
                ipr.link("del", index=found[0])
                found = []
        if not found:
            ipr.link(
                "add",
                ifname=name,
                kind="vxlan",
                vxlan_id=span.vni,
                vxlan_local=span.local,
                vxlan_port=VXLAN_PORT,
                vxlan_learning=1,
            )
            found = ipr.link_lookup(ifname=name)
        index = found[0]
        bridge_index = ipr.link_lookup(ifname=bridge)[0]
        ipr.link("set", index=bridge_index, mtu=mtu, address=bridge_mac(net_id))
        ipr.link("set", index=index, mtu=mtu, master=bridge_index, state="up")
        have = _flood_peers(ipr, index)
        for peer in have - set(span.peers):
            ipr.fdb("del", ifindex=index, lladdr=_FLOOD, dst=peer)
        for peer in set(span.peers) - have:
            ipr.fdb("append", ifindex=index, lladdr=_FLOOD, dst=peer)
        return mtu


def remove_span(name: str) -> None:
    with IPRoute() as ipr:
        for index in ipr.link_lookup(ifname=name):
            try:
                ipr.link("del", index=index)
            except NetlinkError as err:
                if err.code != 19:  # ENODEV: gone already
                    raise
