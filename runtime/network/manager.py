"""Container networking for one node: networks, namespaces, endpoints, published ports.

Call order for a container: `create_netns` (give its path to the OCI runtime),
`connect` once per network, `publish`; on removal `remove_netns`. Every change runs
under the state lock, is applied to the kernel, then persisted; `reapply` rebuilds
bridges and firewall rules from the persisted state (after a reboot or a
`nft flush ruleset`). The work itself sits in modules by subject: definitions,
endpoints, hostsfiles, ports; this class holds the lock and the order of the steps.
"""

import contextlib
import ipaddress
import secrets
from collections.abc import Iterable, Sequence
from pathlib import Path

from runtime.errors import Conflict, InvalidInput, NotFound, RuntimeFailure
from runtime.network import (
    definitions,
    endpoints,
    hostsfiles,
    ipam,
    links,
    ports,
    proxies,
    spans,
    subnets,
)
from runtime.network.firewall import BridgeRules, Firewall
from runtime.network.hostsfiles import DEFAULT_NETWORK
from runtime.network.layout import Layout
from runtime.network.model import Endpoint, NetworkConfig, PortBinding
from runtime.network.state import NetworkState, Snapshot
from runtime.paths import RuntimePaths

__all__ = ["DEFAULT_NETWORK", "NetworkManager"]


class NetworkManager:
    def __init__(self, paths: RuntimePaths, prefix: str = "dockyard"):
        self.layout = Layout(prefix, Path(paths.root) / "network")
        self.paths = paths
        self.prefix = prefix
        self.directory = self.layout.directory
        self.state = NetworkState(self.directory)
        self.firewall = Firewall(prefix)

    def netns_name(self, container_id: str) -> str:
        return self.layout.netns_name(container_id)

    def etc_dir(self, container_id: str) -> Path:
        """Holds the container's hosts, hostname and resolv.conf, to bind-mount into it."""
        return self.layout.etc_dir(container_id)

    # networks --------------------------------------------------------------

    def ensure_default(self) -> NetworkConfig:
        """The `bridge` network, created with a subnet nothing on the host uses."""
        with self.state.locked() as snap:
            net = definitions.find(snap, DEFAULT_NETWORK)
            if net is None:
                taken = subnets.taken_by_host() + definitions.taken_subnets(snap)
                net = definitions.new_config(
                    DEFAULT_NETWORK,
                    self.prefix + "0",
                    str(subnets.pick_free(taken)),
                    None,
                    None,
                    False,
                    {},
                )
                snap.networks[net.id] = net.to_dict()
            self._apply(snap)
            return net

    def create_network(
        self,
        name: str,
        subnet: str | None = None,
        gateway: str | None = None,
        internal: bool = False,
        labels: dict[str, str] | None = None,
        ip_range: str | None = None,
        *,
        confined: bool = True,
        ipv6: bool = False,
        subnet6: str | None = None,
        gateway6: str | None = None,
    ) -> NetworkConfig:
        """A user network, dual-stack with `ipv6` (an IPv6 subnet must then be given: there is
        no default pool of IPv6 subnets, as in Docker before 27). `confined` (anyone but an
        administrator): a requested subnet must be private and clear of the host's addresses,
        routes and nameservers (see subnets)."""
        definitions.check_name(name)
        if subnet is None and (gateway or ip_range):
            raise InvalidInput("a gateway or an ip-range needs a subnet to lie in")
        if ipv6 and not subnet6:
            raise InvalidInput(definitions.NO_IPV6_POOL)
        if subnet6 and not ipv6:
            raise InvalidInput(f"IPv6 subnet {subnet6} given, but IPv6 is not enabled (--ipv6)")
        with self.state.locked() as snap:
            if definitions.find(snap, name, by_id=False) is not None:
                raise Conflict(f"network with name {name} already exists")
            if subnet is None:
                taken = subnets.taken_by_host() + definitions.taken_subnets(snap)
                subnet = str(subnets.pick_free(taken))
            else:
                subnet = definitions.check_subnet(snap, subnet, confined)
            if subnet6:
                subnet6 = definitions.check_subnet(snap, subnet6, confined, version=6)
            net_id = secrets.token_hex(32)
            net = definitions.new_config(
                name,
                self.layout.link_name("b", net_id),
                subnet,
                gateway,
                ip_range,
                internal,
                labels or {},
                net_id,
                subnet6,
                gateway6,
            )
            snap.networks[net.id] = net.to_dict()
            self._apply(snap)
            return net

    def remove_network(self, name_or_id: str) -> None:
        with self.state.locked() as snap:
            net = definitions.get(snap, name_or_id)
            if net.name == DEFAULT_NETWORK:
                raise Conflict(f"{net.name} is a pre-defined network and cannot be removed")
            users = [
                cid for cid, rec in snap.endpoints.items() if endpoints.endpoint_of(rec, net.id)
            ]
            if users:
                raise Conflict(
                    f"network {net.name} has active endpoints: {', '.join(c[:12] for c in users)}"
                )
            del snap.networks[net.id]
            snap.ipam.pop(net.id, None)
            self._apply(snap)
            spans.remove_tunnel(self.layout, net.id)
            links.delete_link(net.bridge)

    def span_network(
        self,
        net: NetworkConfig,
        local: str,
        peers: Sequence[str],
        remote_hosts: Sequence[Sequence[str]] = (),
    ) -> NetworkConfig:
        """Take the spanning network `net` (same id, subnet and VNI on every node) here, its
        tunnel from `local` to the `peers` (none: no tunnel), and `remote_hosts`, the (names,
        address) pairs of its containers on other nodes, into its members' hosts files."""
        with self.state.locked() as snap:
            spans.take_definition(snap, self.layout, net, local, peers, remote_hosts)
            self._apply(snap)
            hostsfiles.refresh_hosts(snap, self.layout, net.id)
            return NetworkConfig.from_dict(snap.networks[net.id])

    def list_networks(self) -> list[NetworkConfig]:
        snap = self.state.read()
        return [NetworkConfig.from_dict(d) for d in snap.networks.values()]

    def get_network(self, name_or_id: str) -> NetworkConfig:
        return definitions.get(self.state.read(), name_or_id)

    # namespaces and endpoints ---------------------------------------------

    def create_netns(
        self,
        container_id: str,
        *,
        hostname: str | None = None,
        extra_hosts: Iterable[tuple[str, str]] = (),
        dns: Sequence[str] = (),
        search: Sequence[str] = (),
    ) -> str:
        """A network namespace with loopback up for the container; returns its path.

        Also writes the container's hosts, hostname and resolv.conf under `etc_dir`.
        """
        with self.state.locked() as snap:
            return endpoints.create_netns(
                snap, self.layout, container_id, hostname, extra_hosts, dns, search
            )

    def set_extra_hosts(self, container_id: str, extra_hosts: Iterable[tuple[str, str]]) -> None:
        """New extra hosts file entries for the container (those of its links change as the
        containers it links to are made again)."""
        wanted = [list(pair) for pair in extra_hosts]
        with self.state.locked() as snap:
            rec = snap.endpoints.get(container_id)
            if rec is None or rec["extra_hosts"] == wanted:
                return
            rec["extra_hosts"] = wanted
            hostsfiles.refresh_hosts(snap, self.layout, "", container_id)

    def netns_path(self, container_id: str) -> str:
        rec = self.state.read().endpoints.get(container_id)
        if rec is None:
            raise NotFound(f"container {container_id[:12]} has no network namespace")
        return rec["netns"]

    def endpoints(self, container_id: str) -> list[Endpoint]:
        rec = self.state.read().endpoints.get(container_id)
        return [Endpoint.from_dict(e) for e in rec["networks"]] if rec else []

    def traffic(self, container_id: str) -> dict[str, dict[str, int]]:
        """Bytes and packets per container interface, as the container counts them."""
        return endpoints.traffic(self.endpoints(container_id))

    def connect(
        self,
        container_id: str,
        network: str,
        *,
        ip: str | None = None,
        aliases: Sequence[str] = (),
        hostname: str | None = None,
        mac: str | None = None,
        ip6: str | None = None,
    ) -> Endpoint:
        """Plug the container into `network` as the next ethN; the first one gets the default
        route (internal networks never do)."""
        with self.state.locked() as snap:
            net = definitions.get(snap, network)
            endpoint = endpoints.attach(
                snap, self.layout, net, container_id, ip, aliases, hostname, mac, ip6=ip6
            )
            if snap.endpoints[container_id]["ports"]:
                self._apply_firewall(snap)
            return endpoint

    def disconnect(self, container_id: str, network: str) -> None:
        with self.state.locked() as snap:
            net = definitions.get(snap, network)
            rec = snap.endpoints.get(container_id)
            ep = endpoints.endpoint_of(rec, net.id) if rec else None
            if ep is None:
                raise NotFound(f"container {container_id[:12]} is not on network {net.name}")
            endpoints.detach(snap, self.layout, container_id, ep)
            self._apply_firewall(snap)

    def remove_netns(self, container_id: str) -> None:
        """Remove every endpoint, address, published port and the namespace of the container."""
        with self.state.locked() as snap:
            rec = snap.endpoints.get(container_id)
            endpoints.remove_container(snap, self.layout, container_id)
            # The rules hold networks and published ports only: a container without ports
            # leaves them as they were, and skips an `nft` run on the path of `docker run --rm`.
            if rec is not None and rec["ports"]:
                self._apply_firewall(snap)

    def allocate_address(self, network: str, owner: str, ip: str | None = None) -> str:
        """Reserve an address without an interface (e.g. for an IP asked before start)."""
        with self.state.locked() as snap:
            net = definitions.get(snap, network)
            return ipam.allocate(
                snap.ipam.setdefault(net.id, {}),
                net.subnet,
                net.gateway,
                owner,
                ip,
                ip_range=net.ip_range or None,
            )

    def release_address(self, network: str, owner: str, ip: str) -> None:
        with self.state.locked() as snap:
            net = definitions.get(snap, network)
            ipam.release(snap.ipam.get(net.id, {}), ip, owner)

    # published ports -------------------------------------------------------

    def publish(self, container_id: str, wanted: Sequence[PortBinding]) -> list[PortBinding]:
        """Forward host ports to the container; returns the bindings with real host ports."""
        with self.state.locked() as snap:
            actual = ports.bind(snap, container_id, wanted)
            self._apply_firewall(snap)
            return actual

    def unpublish(self, container_id: str) -> None:
        with self.state.locked() as snap:
            rec = snap.endpoints.get(container_id)
            if rec and rec["ports"]:
                rec["ports"] = []
                self._apply_firewall(snap)

    def published(self, container_id: str) -> list[PortBinding]:
        rec = self.state.read().endpoints.get(container_id)
        return [PortBinding.from_dict(p) for p in rec["ports"]] if rec else []

    # whole-node operations -------------------------------------------------

    def reapply(self) -> None:
        """Recreate bridges and the firewall table from the persisted state."""
        with self.state.locked() as snap:
            self._apply(snap)

    def cleanup_stale(self, live_container_ids: Iterable[str]) -> list[str]:
        """Remove the namespaces, veths and addresses of containers that no longer run;
        returns the ids removed."""
        live = set(live_container_ids)
        live_short = {cid[:12] for cid in live}
        with self.state.locked() as snap:
            stale = [cid for cid in snap.endpoints if cid not in live]
            for cid in stale:
                endpoints.remove_container(snap, self.layout, cid)
            for name in links.netns_with_prefix(self.prefix + "-"):
                if name[len(self.prefix) + 1 :] not in live_short:
                    links.remove_netns(name)
            owned = {e["host_ifname"] for r in snap.endpoints.values() for e in r["networks"]}
            for name in links.links_with_prefix(self.prefix + "v"):
                if name not in owned:
                    links.delete_link(name)
            for net_id in [n for n in snap.ipam if n not in snap.networks]:
                del snap.ipam[net_id]
            for record in snap.ipam.values():
                for pool in (record, record.get("v6", {})):
                    pool["allocated"] = {
                        ip: owner
                        for ip, owner in pool.get("allocated", {}).items()
                        if owner in live or owner in snap.endpoints
                    }
            self._apply_firewall(snap)
            return stale

    def teardown(self) -> None:
        """Remove every bridge, veth, namespace and the firewall table of this prefix.

        Network definitions stay; endpoints and addresses are forgotten.
        """
        with self.state.locked() as snap:
            for cid in list(snap.endpoints):
                with contextlib.suppress(RuntimeFailure, OSError):
                    endpoints.remove_container(snap, self.layout, cid)
            snap.endpoints.clear()
            snap.ipam.clear()
            for name in links.netns_with_prefix(self.prefix + "-"):
                links.remove_netns(name)
            for name in links.links_with_prefix(self.prefix):
                links.delete_link(name)
            self.firewall.remove()

    def _apply(self, snap: Snapshot) -> None:
        nets = [NetworkConfig.from_dict(data) for data in snap.networks.values()]
        links.enable_ip_forward(ipv6=any(net.ipv6 for net in nets))
        for net in nets:
            subnet = ipaddress.IPv4Network(net.subnet)
            prefixlen6 = ipaddress.IPv6Network(net.subnet6).prefixlen if net.ipv6 else 0
            links.ensure_bridge(net.bridge, net.gateway, subnet.prefixlen, net.gateway6, prefixlen6)
        spans.apply_tunnels(snap, self.layout)
        self._apply_firewall(snap)

    def _apply_firewall(self, snap: Snapshot) -> None:
        # Proxies first: one that cannot bind its port fails the change before any rule does.
        proxies.sync(snap, self.layout)
        bridges = [
            BridgeRules(n["bridge"], n["subnet"], n["internal"], n.get("subnet6", ""))
            for n in snap.networks.values()
        ]
        self.firewall.apply(bridges, ports.forwards(snap), spans.tunnel_peers(snap))
