"""Name resolution on user networks: each container's hosts file lists its peers."""

from runtime.network.etcfiles import hosts_content, rewrite_in_place
from runtime.network.layout import Layout
from runtime.network.state import Snapshot

DEFAULT_NETWORK = "bridge"


def refresh_hosts(snap: Snapshot, layout: Layout, net_id: str, *also: str) -> None:
    """Rewrite the hosts file of every container on the network (and of `also`): peers on
    user networks resolve each other by hostname and alias, to each of their addresses (the
    default network has no names)."""
    members = [
        cid
        for cid, rec in snap.endpoints.items()
        if any(e["network_id"] == net_id for e in rec["networks"])
    ]
    for cid in dict.fromkeys([*members, *also]):
        rec = snap.endpoints.get(cid)
        if rec is None:
            continue
        path = layout.etc_dir(cid) / "hosts"
        if not path.exists():
            continue
        own_ip = rec["networks"][0]["ip"] if rec["networks"] else None
        own = [rec["hostname"], *(rec["networks"][0]["aliases"] if rec["networks"] else [])]
        own_names = " ".join(dict.fromkeys(own))
        extra = [tuple(pair) for pair in rec["extra_hosts"]]
        if rec["networks"] and rec["networks"][0].get("ip6"):
            extra.append((own_names, rec["networks"][0]["ip6"]))
        for ep in rec["networks"]:
            if snap.networks.get(ep["network_id"], {}).get("name") == DEFAULT_NETWORK:
                continue
            # Containers of the network on other nodes (a spanning network).
            extra += [
                tuple(pair)
                for pair in snap.networks.get(ep["network_id"], {}).get("remote_hosts", [])
            ]
            for peer_id, peer in snap.endpoints.items():
                if peer_id == cid:
                    continue
                peer_ep = next(
                    (e for e in peer["networks"] if e["network_id"] == ep["network_id"]), None
                )
                if peer_ep:
                    names = " ".join(dict.fromkeys([peer["hostname"], *peer_ep["aliases"]]))
                    extra.append((names, peer_ep["ip"]))
                    if peer_ep.get("ip6"):
                        extra.append((names, peer_ep["ip6"]))
        rewrite_in_place(path, hosts_content(own_names, own_ip, extra))
