"""Container networking for one node: networks, namespaces, endpoints, published ports.

Call order for a container: `create_netns` (give its path to the OCI runtime),
`connect` once per network, `publish`; on removal `remove_netns`. Every change runs
under the state lock, is applied to the kernel, then persisted; `reapply` rebuilds
bridges and firewall rules from the persisted state (after a reboot or a
`nft flush ruleset`).
"""

import contextlib
import errno
import hashlib
import ipaddress
import re
import secrets
import shutil
import socket
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from runtime.errors import Conflict, Forbidden, InvalidInput, NotFound, RuntimeFailure
from runtime.network import ipam, links, subnets
from runtime.network.etcfiles import hosts_content, rewrite_in_place, write_etc_files
from runtime.network.firewall import BridgeRules, Firewall, Forward
from runtime.network.model import Endpoint, NetworkConfig, PortBinding
from runtime.network.state import NetworkState, Snapshot
from runtime.paths import RuntimePaths

DEFAULT_NETWORK = "bridge"
_PREFIX = re.compile(r"^[a-z][a-z0-9]{0,7}$")
_IFNAMSIZ = 15


def _digest(*parts: str) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()


_COUNTERS = ("rx_bytes", "rx_packets", "tx_bytes", "tx_packets")


class NetworkManager:
    def __init__(self, paths: RuntimePaths, prefix: str = "dockyard"):
        if not _PREFIX.match(prefix):
            raise InvalidInput(f"network prefix {prefix!r} must be 1-8 lowercase letters/digits")
        self.paths = paths
        self.prefix = prefix
        self.directory = Path(paths.root) / "network"
        self.state = NetworkState(self.directory)
        self.firewall = Firewall(prefix)

    # names -----------------------------------------------------------------

    def _name(self, kind: str, key: str) -> str:
        return (self.prefix + kind + key)[:_IFNAMSIZ]

    def netns_name(self, container_id: str) -> str:
        return f"{self.prefix}-{container_id[:12]}"

    def etc_dir(self, container_id: str) -> Path:
        """Holds the container's hosts, hostname and resolv.conf, to bind-mount into it."""
        return self.directory / "etc" / container_id

    # networks --------------------------------------------------------------

    def ensure_default(self) -> NetworkConfig:
        """The `bridge` network, created with a subnet nothing on the host uses."""
        with self.state.locked() as snap:
            net = self._find(snap, DEFAULT_NETWORK)
            if net is None:
                subnet = subnets.pick_free(subnets.taken_by_host() + self._subnets(snap))
                net = self._new_config(
                    DEFAULT_NETWORK, self.prefix + "0", str(subnet), None, None, False, {}
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
    ) -> NetworkConfig:
        """A user network. `confined` (anyone but an administrator): a requested subnet must be
        private and clear of the host's addresses, routes and nameservers (see subnets)."""
        if not name or not re.match(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$", name):
            raise InvalidInput(f"invalid network name {name!r}")
        if subnet is None and (gateway or ip_range):
            raise InvalidInput("a gateway or an ip-range needs a subnet to lie in")
        with self.state.locked() as snap:
            if self._find(snap, name, by_id=False) is not None:
                raise Conflict(f"network with name {name} already exists")
            if subnet is None:
                subnet = str(subnets.pick_free(subnets.taken_by_host() + self._subnets(snap)))
            else:
                subnet = self._check_subnet(snap, subnet, confined)
            net_id = secrets.token_hex(32)
            net = self._new_config(
                name,
                self._name("b", net_id),
                subnet,
                gateway,
                ip_range,
                internal,
                labels or {},
                net_id,
            )
            snap.networks[net.id] = net.to_dict()
            self._apply(snap)
            return net

    def remove_network(self, name_or_id: str) -> None:
        with self.state.locked() as snap:
            net = self._get(snap, name_or_id)
            if net.name == DEFAULT_NETWORK:
                raise Conflict(f"{net.name} is a pre-defined network and cannot be removed")
            users = [cid for cid, rec in snap.endpoints.items() if self._endpoint(rec, net.id)]
            if users:
                raise Conflict(
                    f"network {net.name} has active endpoints: {', '.join(c[:12] for c in users)}"
                )
            del snap.networks[net.id]
            snap.ipam.pop(net.id, None)
            self._apply(snap)
            links.delete_link(net.bridge)

    def list_networks(self) -> list[NetworkConfig]:
        snap = self.state.read()
        return [NetworkConfig.from_dict(d) for d in snap.networks.values()]

    def get_network(self, name_or_id: str) -> NetworkConfig:
        return self._get(self.state.read(), name_or_id)

    def _new_config(
        self,
        name: str,
        bridge: str,
        subnet: str,
        gateway: str | None,
        ip_range: str | None,
        internal: bool,
        labels: dict[str, str],
        net_id: str | None = None,
    ) -> NetworkConfig:
        net = ipaddress.IPv4Network(subnet)
        if gateway is None:
            gateway = str(net.network_address + 1)
        else:
            gateway = str(self._address_in(net, gateway, "gateway"))
        if ip_range:
            try:
                within = ipaddress.IPv4Network(ip_range, strict=False)
            except ValueError as err:
                raise InvalidInput(f"invalid ip-range {ip_range}: {err}") from None
            # Inside the subnet, so it is held to what the subnet was checked against.
            if not within.subnet_of(net):
                raise InvalidInput(f"ip-range {within} is not in subnet {net}")
            ip_range = str(within)
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
        )

    @staticmethod
    def _address_in(net: ipaddress.IPv4Network, text: str, what: str) -> ipaddress.IPv4Address:
        try:
            addr = ipaddress.IPv4Address(text)
        except ValueError:
            raise InvalidInput(f"invalid {what} {text}: not an IPv4 address") from None
        if addr not in net or addr in (net.network_address, net.broadcast_address):
            raise InvalidInput(f"{what} {addr} is not a usable address of subnet {net}")
        return addr

    def _check_subnet(self, snap: Snapshot, subnet: str, confined: bool) -> str:
        try:
            net = ipaddress.IPv4Network(subnet, strict=False)
        except ValueError as err:
            raise InvalidInput(f"invalid subnet {subnet}: {err}") from None
        if net.prefixlen > 30:
            raise InvalidInput(f"subnet {subnet} is too small")
        for data in snap.networks.values():
            if net.overlaps(ipaddress.IPv4Network(data["subnet"])):
                raise Forbidden(
                    f"{subnets.POOL_OVERLAP}: {net} overlaps {data['subnet']} of network "
                    f"{data['name']}"
                )
        subnets.check_reach(net, confined=confined)
        return str(net)

    @staticmethod
    def _subnets(snap: Snapshot) -> list[ipaddress.IPv4Network]:
        return [ipaddress.IPv4Network(n["subnet"]) for n in snap.networks.values()]

    @staticmethod
    def _find(snap: Snapshot, key: str, by_id: bool = True) -> NetworkConfig | None:
        nets = [NetworkConfig.from_dict(d) for d in snap.networks.values()]
        for net in nets:
            if net.name == key or (by_id and net.id == key):
                return net
        if by_id and len(key) >= 3:
            matches = [n for n in nets if n.id.startswith(key)]
            if len(matches) == 1:
                return matches[0]
        return None

    def _get(self, snap: Snapshot, key: str) -> NetworkConfig:
        net = self._find(snap, key)
        if net is None:
            raise NotFound(f"network {key} not found")
        return net

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
            return self._create_netns(snap, container_id, hostname, extra_hosts, dns, search)

    def _create_netns(
        self,
        snap: Snapshot,
        container_id: str,
        hostname: str | None,
        extra_hosts: Iterable[tuple[str, str]] = (),
        dns: Sequence[str] = (),
        search: Sequence[str] = (),
    ) -> str:
        rec = snap.endpoints.get(container_id)
        if rec is None:
            rec = {
                "netns": links.netns_path(self.netns_name(container_id)),
                "hostname": hostname or container_id[:12],
                "extra_hosts": [list(pair) for pair in extra_hosts],
                "networks": [],
                "ports": [],
            }
            snap.endpoints[container_id] = rec
            write_etc_files(
                self.etc_dir(container_id),
                rec["hostname"],
                None,
                rec["extra_hosts"],
                dns,
                search,
            )
        return links.create_netns(self.netns_name(container_id))

    def netns_path(self, container_id: str) -> str:
        rec = self.state.read().endpoints.get(container_id)
        if rec is None:
            raise NotFound(f"container {container_id[:12]} has no network namespace")
        return rec["netns"]

    def endpoints(self, container_id: str) -> list[Endpoint]:
        rec = self.state.read().endpoints.get(container_id)
        return [Endpoint.from_dict(e) for e in rec["networks"]] if rec else []

    def traffic(self, container_id: str) -> dict[str, dict[str, int]]:
        """Bytes and packets per container interface, read off the host end of each veth
        (what the host end receives, the container sent)."""
        counters = {}
        for ep in self.endpoints(container_id):
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

    def connect(
        self,
        container_id: str,
        network: str,
        *,
        ip: str | None = None,
        aliases: Sequence[str] = (),
        hostname: str | None = None,
    ) -> Endpoint:
        """Plug the container into `network` as the next ethN; the first one gets the default
        route (internal networks never do)."""
        with self.state.locked() as snap:
            net = self._get(snap, network)
            self._create_netns(snap, container_id, hostname)
            rec = snap.endpoints[container_id]
            if hostname:
                rec["hostname"] = hostname
            if self._endpoint(rec, net.id):
                raise Conflict(f"container {container_id[:12]} is already on network {net.name}")
            address = ipam.allocate(
                snap.ipam.setdefault(net.id, {}),
                net.subnet,
                net.gateway,
                container_id,
                ip,
                ip_range=net.ip_range or None,
            )
            used = {e["ifname"] for e in rec["networks"]}
            ifname = next(f"eth{n}" for n in range(len(used) + 1) if f"eth{n}" not in used)
            key = _digest(container_id, net.id)
            host_ifname = self._name("v", key)
            prefixlen = ipaddress.IPv4Network(net.subnet).prefixlen
            route = None
            if not net.internal and not links.has_default_route(rec["netns"]):
                route = net.gateway
            try:
                mac = links.attach_veth(
                    bridge=net.bridge,
                    host_ifname=host_ifname,
                    temp_peer=self._name("p", key),
                    ns_path=rec["netns"],
                    ifname=ifname,
                    ip=address,
                    prefixlen=prefixlen,
                    default_gateway=route,
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
            )
            rec["networks"].append(endpoint.to_dict())
            self._refresh_hosts(snap, net.id)
            if rec["ports"]:
                self._apply_firewall(snap)
            return endpoint

    def disconnect(self, container_id: str, network: str) -> None:
        with self.state.locked() as snap:
            net = self._get(snap, network)
            rec = snap.endpoints.get(container_id)
            ep = self._endpoint(rec, net.id) if rec else None
            if ep is None:
                raise NotFound(f"container {container_id[:12]} is not on network {net.name}")
            self._drop_endpoint(snap, container_id, ep)
            remaining = [e for e in rec["networks"] if not self._is_internal(snap, e)]
            if remaining and not links.has_default_route(rec["netns"]):
                links.set_default_route(rec["netns"], remaining[0]["gateway"])
            self._refresh_hosts(snap, net.id, container_id)
            self._apply_firewall(snap)

    def remove_netns(self, container_id: str) -> None:
        """Remove every endpoint, address, published port and the namespace of the container."""
        with self.state.locked() as snap:
            self._remove_container(snap, container_id)
            self._apply_firewall(snap)

    def _remove_container(self, snap: Snapshot, container_id: str) -> None:
        rec = snap.endpoints.get(container_id)
        touched = []
        if rec is not None:
            for ep in list(rec["networks"]):
                self._drop_endpoint(snap, container_id, ep)
                touched.append(ep["network_id"])
            del snap.endpoints[container_id]
        links.remove_netns(self.netns_name(container_id))
        shutil.rmtree(self.etc_dir(container_id), ignore_errors=True)
        for net_id in touched:
            self._refresh_hosts(snap, net_id)

    def _drop_endpoint(self, snap: Snapshot, container_id: str, ep: dict[str, Any]) -> None:
        links.delete_link(ep["host_ifname"])
        ipam.release(snap.ipam.get(ep["network_id"], {}), ep["ip"], container_id)
        rec = snap.endpoints[container_id]
        rec["networks"] = [e for e in rec["networks"] if e["network_id"] != ep["network_id"]]

    @staticmethod
    def _endpoint(rec: dict[str, Any], net_id: str) -> dict[str, Any] | None:
        return next((e for e in rec["networks"] if e["network_id"] == net_id), None)

    @staticmethod
    def _is_internal(snap: Snapshot, ep: dict[str, Any]) -> bool:
        return snap.networks.get(ep["network_id"], {}).get("internal", False)

    def allocate_address(self, network: str, owner: str, ip: str | None = None) -> str:
        """Reserve an address without an interface (e.g. for an IP asked before start)."""
        with self.state.locked() as snap:
            net = self._get(snap, network)
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
            net = self._get(snap, network)
            ipam.release(snap.ipam.get(net.id, {}), ip, owner)

    # name resolution -------------------------------------------------------

    def _refresh_hosts(self, snap: Snapshot, net_id: str, *also: str) -> None:
        """Rewrite the hosts file of every container on the network (and of `also`): peers on
        user networks resolve each other by hostname and alias (the default network has no
        names)."""
        members = [cid for cid, rec in snap.endpoints.items() if self._endpoint(rec, net_id)]
        for cid in dict.fromkeys([*members, *also]):
            rec = snap.endpoints.get(cid)
            if rec is None:
                continue
            path = self.etc_dir(cid) / "hosts"
            if not path.exists():
                continue
            own_ip = rec["networks"][0]["ip"] if rec["networks"] else None
            own = [rec["hostname"], *(rec["networks"][0]["aliases"] if rec["networks"] else [])]
            extra = [tuple(pair) for pair in rec["extra_hosts"]]
            for ep in rec["networks"]:
                if snap.networks.get(ep["network_id"], {}).get("name") == DEFAULT_NETWORK:
                    continue
                for peer_id, peer in snap.endpoints.items():
                    peer_ep = self._endpoint(peer, ep["network_id"]) if peer_id != cid else None
                    if peer_ep:
                        names = dict.fromkeys([peer["hostname"], *peer_ep["aliases"]])
                        extra.append((" ".join(names), peer_ep["ip"]))
            rewrite_in_place(path, hosts_content(" ".join(dict.fromkeys(own)), own_ip, extra))

    # published ports -------------------------------------------------------

    def publish(self, container_id: str, ports: Sequence[PortBinding]) -> list[PortBinding]:
        """Forward host ports to the container; returns the bindings with real host ports."""
        with self.state.locked() as snap:
            rec = snap.endpoints.get(container_id)
            if rec is None or not self._target(snap, rec):
                raise Conflict(f"container {container_id[:12]} is not on a network with egress")
            taken = [PortBinding.from_dict(p) for r in snap.endpoints.values() for p in r["ports"]]
            actual = []
            for want in ports:
                if want.proto not in ("tcp", "udp"):
                    raise InvalidInput(f"unsupported protocol {want.proto}")
                try:
                    ipaddress.IPv4Address(want.host_ip or "0.0.0.0")
                except ValueError:
                    raise InvalidInput(
                        f"cannot publish on {want.host_ip}: only IPv4 host addresses are supported"
                    ) from None
                bound = PortBinding(
                    host_ip=want.host_ip or "0.0.0.0",
                    host_port=want.host_port,
                    container_port=want.container_port,
                    proto=want.proto,
                )
                bound.host_port = self._host_port(bound, taken)
                taken.append(bound)
                actual.append(bound)
            rec["ports"] += [p.to_dict() for p in actual]
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

    def _target(self, snap: Snapshot, rec: dict[str, Any]) -> str | None:
        return next((e["ip"] for e in rec["networks"] if not self._is_internal(snap, e)), None)

    @staticmethod
    def _host_port(want: PortBinding, taken: list[PortBinding]) -> int:
        def clashes(port: int) -> bool:
            return any(
                t.proto == want.proto
                and t.host_port == port
                and (t.host_ip == want.host_ip or "0.0.0.0" in (t.host_ip, want.host_ip))
                for t in taken
            )

        kind = socket.SOCK_STREAM if want.proto == "tcp" else socket.SOCK_DGRAM
        address = "" if want.host_ip == "0.0.0.0" else want.host_ip
        for _ in range(100):
            with socket.socket(socket.AF_INET, kind) as probe:
                try:
                    probe.bind((address, want.host_port))
                except OSError as err:
                    if err.errno in (errno.EADDRINUSE, errno.EACCES):
                        raise Conflict(
                            f"port {want.host_ip}:{want.host_port}/{want.proto} is already in use"
                        ) from None
                    if err.errno == errno.EADDRNOTAVAIL:
                        raise InvalidInput(
                            f"{want.host_ip} is not an address of this host"
                        ) from None
                    raise
                port = probe.getsockname()[1]
            if not clashes(port):
                return port
            if want.host_port:
                raise Conflict(
                    f"port {want.host_ip}:{want.host_port}/{want.proto} is already allocated"
                )
        raise RuntimeFailure("no free host port found")

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
                self._remove_container(snap, cid)
            for name in links.netns_with_prefix(self.prefix + "-"):
                if name[len(self.prefix) + 1 :] not in live_short:
                    links.remove_netns(name)
            owned = {e["host_ifname"] for r in snap.endpoints.values() for e in r["networks"]}
            for name in links.links_with_prefix(self.prefix + "v"):
                if name not in owned:
                    links.delete_link(name)
            for net_id in [n for n in snap.ipam if n not in snap.networks]:
                del snap.ipam[net_id]
            for pool in snap.ipam.values():
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
                    self._remove_container(snap, cid)
            snap.endpoints.clear()
            snap.ipam.clear()
            for name in links.netns_with_prefix(self.prefix + "-"):
                links.remove_netns(name)
            for name in links.links_with_prefix(self.prefix):
                links.delete_link(name)
            self.firewall.remove()

    def _apply(self, snap: Snapshot) -> None:
        links.enable_ip_forward()
        for data in snap.networks.values():
            net = NetworkConfig.from_dict(data)
            subnet = ipaddress.IPv4Network(net.subnet)
            links.ensure_bridge(net.bridge, net.gateway, subnet.prefixlen)
        self._apply_firewall(snap)

    def _apply_firewall(self, snap: Snapshot) -> None:
        bridges = [
            BridgeRules(n["bridge"], n["subnet"], n["internal"]) for n in snap.networks.values()
        ]
        forwards = []
        for rec in snap.endpoints.values():
            target = self._target(snap, rec)
            if target is None:
                continue
            for p in rec["ports"]:
                forwards.append(
                    Forward(p["host_ip"], p["host_port"], p["proto"], target, p["container_port"])
                )
        self.firewall.apply(bridges, forwards)
