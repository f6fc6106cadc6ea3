"""Network use cases, and the network side of a container's create, start and remove.

Networks live on a node (Docker's `local` scope). `bridge`, `host` and `none` are pre-defined;
`bridge` is the runtime's default network, made on first use. A container's attachments are
what it asked for; the runtime endpoint (address, MAC) is filled in while it runs.
"""

import hashlib
import ipaddress
from dataclasses import dataclass, field

from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from .. import tasks
from ..api.schemas import NetworkingSpec
from ..errors import BadRequest, Conflict, Forbidden, NotFound
from ..events import make_event, publish
from ..models import Container, Network, NetworkAttachment, Node, PublishedPort
from ..nodes import run_on_node
from .access import Actor, teammates

DEFAULT = "bridge"
HOST = "host"
NONE = "none"
BUILTIN_DRIVERS = {DEFAULT: Network.Driver.BRIDGE, HOST: Network.Driver.HOST, NONE: "null"}


def _builtin_id(node: Node, name: str) -> str:
    return hashlib.sha256(f"{node.name}/{name}".encode()).hexdigest()


# ---- networks ---------------------------------------------------------------------------


def visible_networks(actor: Actor) -> QuerySet[Network]:
    qs = Network.objects.select_related("node", "owner")
    if actor.admin:
        return qs
    return qs.filter(
        Q(owner__isnull=True) | Q(owner=actor.user) | Q(owner__in=teammates(actor.user))
    )


def resolve_network(actor: Actor, node: Node, ref: str) -> Network:
    default_network(node)
    qs = visible_networks(actor).filter(node=node)
    found = qs.filter(id=ref).first() or qs.filter(name=ref).first()
    if found is None and len(ref) >= 1:
        matches = list(qs.filter(id__startswith=ref)[:2])
        if len(matches) == 1:
            found = matches[0]
    if found is None:
        raise NotFound(f"network {ref} not found")
    return found


def _upsert(node: Node, config: dict, owner=None) -> Network:
    created = parse_datetime(config.get("created") or "") or timezone.now()
    values = {
        "name": config["name"],
        "node": node,
        "driver": Network.Driver.BRIDGE,
        "builtin": config["name"] == DEFAULT,
        "subnet": config["subnet"],
        "gateway": config["gateway"],
        "subnet6": config.get("subnet6") or "",
        "gateway6": config.get("gateway6") or "",
        "internal": config.get("internal", False),
        "labels": config.get("labels") or {},
        "created": created,
    }
    net, made = Network.objects.get_or_create(id=config["id"], defaults={**values, "owner": owner})
    if not made:
        for key, value in values.items():
            setattr(net, key, value)
        net.save()
    return net


def sync_networks(node: Node, configs: list[dict], complete: bool = False) -> None:
    """Mirror the node's runtime networks; with `complete`, drop rows the node no longer has."""
    with transaction.atomic():
        for name in (HOST, NONE):
            Network.objects.get_or_create(
                node=node,
                name=name,
                defaults={
                    "id": _builtin_id(node, name),
                    "driver": BUILTIN_DRIVERS[name],
                    "builtin": True,
                    "created": timezone.now(),
                },
            )
        for config in configs:
            _upsert(node, config)
        if complete:
            ids = [c["id"] for c in configs]
            gone = Network.objects.filter(node=node, driver=Network.Driver.BRIDGE)
            gone.exclude(id__in=ids).filter(attachments__isnull=True).delete()


def default_network(node: Node) -> Network:
    """The node's `bridge` network, asking the node to make it the first time."""
    found = Network.objects.filter(node=node, name=DEFAULT).first()
    if found is not None:
        return found
    config = run_on_node(node, tasks.ensure_default_network)
    try:
        sync_networks(node, [config])
    except IntegrityError:
        pass
    return Network.objects.get(node=node, name=DEFAULT)


@dataclass
class NetworkSpec:
    name: str
    subnet: str | None = None
    gateway: str | None = None
    internal: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    ip_range: str | None = None
    # Dual stack (Docker's EnableIPv6): the IPv6 pool's subnet, and its gateway if given.
    ipv6: bool = False
    subnet6: str | None = None
    gateway6: str | None = None


def do_create_network(actor: Actor, node: Node, spec: NetworkSpec) -> Network:
    """A user network. Its subnet becomes a route on the node, so the node checks it against
    its own addresses and routes: only administrators may overlap those or go beyond the
    private ranges, as only they may give a container the host's network."""
    default_network(node)
    if Network.objects.filter(node=node, name=spec.name).exists():
        raise Conflict(f"network with name {spec.name} already exists")
    config = run_on_node(
        node,
        tasks.create_network,
        spec.name,
        spec.subnet,
        spec.gateway,
        spec.internal,
        spec.labels,
        spec.ip_range,
        not actor.admin,
        spec.ipv6,
        spec.subnet6,
        spec.gateway6,
    )
    try:
        with transaction.atomic():
            net = _upsert(node, config, owner=actor.user)
            _emit(net, "create")
    except IntegrityError:
        run_on_node(node, tasks.remove_network, config["id"])
        raise Conflict(f"network with name {spec.name} already exists") from None
    return net


def do_remove_network(actor: Actor, net: Network) -> None:
    if net.builtin:
        raise Forbidden(f"{net.name} is a pre-defined network and cannot be removed")
    users = list(net.attachments.select_related("container").values_list("container__name"))
    if users:
        names = ", ".join(n for (n,) in users)
        raise Conflict(
            f"error while removing network: network {net.name} has active endpoints ({names})"
        )
    run_on_node(net.node, tasks.remove_network, net.id)
    with transaction.atomic():
        net.delete()
        _emit(net, "destroy")


def do_prune_networks(actor: Actor) -> list[str]:
    removed = []
    for net in visible_networks(actor).filter(builtin=False, attachments__isnull=True):
        do_remove_network(actor, net)
        removed.append(net.name)
    return removed


def _emit(net: Network, action: str, **extra) -> None:
    event = make_event("network", action, net.id, {"name": net.name, "type": net.driver, **extra})
    transaction.on_commit(lambda: publish(event))


# ---- a container's networks ---------------------------------------------------------------


@dataclass
class Attach:
    network: Network
    aliases: list[str]
    ip: str
    ip6: str = ""


@dataclass
class NetworkChoice:
    """What a create request asked for: the mode, and for bridge mode the networks."""

    mode: str
    container: str = ""
    attachments: list[Attach] = field(default_factory=list)

    def runtime(self) -> dict:
        return {"mode": self.mode, "container": self.container}


def mode_of(host: dict) -> str:
    value = host.get("NetworkMode") or DEFAULT
    if value in (HOST, NONE):
        return value
    if value.startswith("container:"):
        return "container"
    return "bridge"


def _endpoint_request(endpoints: dict, *keys: str) -> dict:
    for key in keys:
        if key in endpoints:
            return endpoints[key] or {}
    return {}


def _attach(net: Network, request: dict) -> Attach:
    aliases = list(request.get("Aliases") or [])
    ipam = request.get("IPAMConfig") or {}
    ip = ipam.get("IPv4Address") or ""
    ip6 = ipam.get("IPv6Address") or ""
    if net.builtin and aliases:
        raise BadRequest(
            "network-scoped alias is supported only for containers in user defined networks"
        )
    if net.builtin and (ip or ip6):
        raise BadRequest("user specified IP address is supported on user defined networks only")
    if ip6 and not net.subnet6:
        raise BadRequest(f"network {net.name} has no IPv6 subnet for address {ip6}")
    _check_address(net, ip, net.subnet, 4)
    _check_address(net, ip6, net.subnet6, 6)
    return Attach(net, aliases, ip, ip6)


def _check_address(net: Network, ip: str, subnet: str, version: int) -> None:
    if not ip:
        return
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        raise BadRequest(f"invalid IPv{version} address {ip}") from None
    if address.version != version or address not in ipaddress.ip_network(subnet):
        raise BadRequest(f"address {ip} is not in the subnet {subnet} of {net.name}")


def choose_networks(
    actor: Actor, node: Node, host: dict, networking: NetworkingSpec | None, resolve_container
) -> NetworkChoice:
    """Check the create request's NetworkMode and EndpointsConfig; normalises host's
    NetworkMode. `resolve_container(actor, ref)` finds the container of `container:<ref>`."""
    requested = networking.model_dump(exclude_none=True) if networking else {}
    endpoints = requested.get("EndpointsConfig") or {}
    asked = host.get("NetworkMode") or "default"
    value = DEFAULT if asked == "default" else asked
    host["NetworkMode"] = value
    if value in (HOST, NONE):
        if value == HOST and host.get("PortBindings"):
            host["PortBindings"] = {}
        return NetworkChoice(value)
    if value.startswith("container:"):
        if host.get("PortBindings") or host.get("PublishAllPorts"):
            raise BadRequest(
                "conflicting options: port publishing and the container type network mode"
            )
        other = resolve_container(actor, value.split(":", 1)[1])
        while mode_of(other.host_config) == "container":
            other = resolve_container(actor, other.host_config["NetworkMode"].split(":", 1)[1])
        if mode_of(other.host_config) == HOST:
            return NetworkChoice(HOST)
        return NetworkChoice("container", container=other.id)
    primary = _requested_network(actor, node, value)
    if primary.driver != Network.Driver.BRIDGE:
        raise BadRequest(f"container cannot be connected to network {primary.name}")
    own_keys = (asked, value, primary.name, primary.id)
    chosen = [_attach(primary, _endpoint_request(endpoints, *own_keys))]
    for key, request in endpoints.items():
        if key in own_keys:
            continue
        net = _requested_network(actor, node, key)
        if net.driver != Network.Driver.BRIDGE:
            raise BadRequest(f"container cannot be connected to network {net.name}")
        if all(a.network.id != net.id for a in chosen):
            chosen.append(_attach(net, request or {}))
    return NetworkChoice("bridge", attachments=chosen)


def _requested_network(actor: Actor, node: Node, ref: str) -> Network:
    # Not a 404: the docker CLI takes any 404 from create for a missing image and pulls.
    try:
        return resolve_network(actor, node, ref)
    except NotFound as e:
        raise BadRequest(e.message) from None


def save_attachments(c: Container, choice: NetworkChoice) -> None:
    for position, a in enumerate(choice.attachments):
        NetworkAttachment.objects.create(
            container=c,
            network=a.network,
            aliases=a.aliases,
            requested_ip=a.ip,
            requested_ip6=a.ip6,
            position=position,
        )


def _port_key(key: str) -> tuple[int, str]:
    port, _, proto = key.partition("/")
    proto = proto or "tcp"
    if proto not in ("tcp", "udp"):
        raise BadRequest(f"unsupported protocol {proto} in port {key}")
    try:
        return int(port), proto
    except ValueError:
        raise BadRequest(f"invalid container port {key}") from None


def port_requests(host: dict, exposed: dict | None) -> list[dict]:
    """HostConfig.PortBindings (and with PublishAllPorts, every exposed port) as
    runtime.network.PortBinding fields; host port 0 means any free one."""
    out = []
    bindings = host.get("PortBindings") or {}
    for key, entries in bindings.items():
        port, proto = _port_key(key)
        for entry in entries or [{}]:
            text = (entry or {}).get("HostPort") or ""
            if "-" in text:
                raise BadRequest(f"host port ranges are not supported: {text}")
            try:
                host_port = int(text) if text else 0
            except ValueError:
                raise BadRequest(f"invalid host port {text}") from None
            host_ip = (entry or {}).get("HostIp") or ""
            out.append(
                {"host_ip": host_ip, "host_port": host_port, "container_port": port, "proto": proto}
            )
    if host.get("PublishAllPorts"):
        for key in exposed or {}:
            if key not in bindings:
                port, proto = _port_key(key)
                out.append({"host_ip": "", "host_port": 0, "container_port": port, "proto": proto})
    return out


def _extra_hosts(host: dict, gateway: str) -> list[list[str]]:
    pairs = []
    for item in host.get("ExtraHosts") or []:
        sep = "=" if "=" in item else ":"
        name, _, address = item.partition(sep)
        if not name or not address:
            raise BadRequest(f"invalid extra host {item!r}: use name:address")
        if address == "host-gateway":
            address = gateway
        pairs.append([name, address])
    return pairs


def network_plan(c: Container) -> dict:
    """What the start task needs to give the container its network."""
    host = c.host_config
    mode = mode_of(host)
    if mode == "container":
        other = Container.objects.filter(id=_container_target(c)).first()
        if other is None or not other.running:
            raise Conflict(
                f"cannot join network of a non running container: {host['NetworkMode'][10:]}"
            )
        return {"mode": mode}
    attachments = list(c.attachments.select_related("network")) if mode == "bridge" else []
    gateway = attachments[0].network.gateway if attachments else "127.0.0.1"
    return {
        "mode": mode,
        "hostname": c.config.get("Hostname") or c.id[:12],
        "extra_hosts": _extra_hosts(host, gateway),
        "dns": host.get("Dns") or [],
        "dns_search": host.get("DnsSearch") or [],
        "networks": [
            {
                "id": a.network_id,
                "ip": a.requested_ip,
                "ip6": a.requested_ip6,
                "aliases": [] if a.network.builtin else [c.name, *a.aliases],
            }
            for a in attachments
        ],
        "ports": port_requests(host, c.config.get("ExposedPorts")) if mode == "bridge" else [],
    }


def _container_target(c: Container) -> str:
    ref = c.host_config["NetworkMode"].split(":", 1)[1]
    found = Container.objects.filter(Q(id=ref) | Q(name=ref.removeprefix("/"))).first()
    if found is None:
        matches = list(Container.objects.filter(id__startswith=ref)[:2])
        found = matches[0] if len(matches) == 1 else None
    return found.id if found else ref


def record_network(c: Container, attached: dict | None) -> None:
    """Write what the runtime gave the container (addresses, ports); inside the caller's
    transaction."""
    if attached is None:
        return
    by_net = {e["network_id"]: e for e in attached["endpoints"]}
    for a in c.attachments.all():
        e = by_net.get(a.network_id)
        a.endpoint_id = _endpoint_id(c.id, a.network_id) if e else ""
        a.ip = e["ip"] if e else ""
        a.prefixlen = e["prefixlen"] if e else 0
        a.gateway = e["gateway"] if e else ""
        a.mac = e["mac"] if e else ""
        a.ip6 = (e.get("ip6") or "") if e else ""
        a.prefixlen6 = (e.get("prefixlen6") or 0) if e else 0
        a.gateway6 = (e.get("gateway6") or "") if e else ""
        a.save()
    c.ports.all().delete()
    PublishedPort.objects.bulk_create(
        PublishedPort(
            container=c,
            host_ip=p["host_ip"],
            host_port=p["host_port"],
            container_port=p["container_port"],
            proto=p["proto"],
        )
        for p in attached["ports"]
    )


def _endpoint_id(cid: str, net_id: str) -> str:
    return hashlib.sha256(f"{cid}/{net_id}".encode()).hexdigest()


def do_connect(c: Container, net: Network, aliases: list[str], ip: str, ip6: str = "") -> None:
    if mode_of(c.host_config) != "bridge":
        raise Conflict(
            "container sharing network namespace with another container or host cannot be "
            "connected to any other network"
        )
    if net.driver != Network.Driver.BRIDGE:
        raise BadRequest(f"container cannot be connected to network {net.name}")
    if c.attachments.filter(network=net).exists():
        raise Conflict(f"endpoint with name {c.name} already exists in network {net.name}")
    wanted = _attach(
        net, {"Aliases": aliases, "IPAMConfig": {"IPv4Address": ip, "IPv6Address": ip6}}
    )
    endpoint = None
    if c.running:
        endpoint = run_on_node(
            c.node,
            tasks.connect_container,
            c.id,
            net.id,
            ip or None,
            [c.name, *wanted.aliases],
            c.config.get("Hostname") or c.id[:12],
            ip6 or None,
        )
    with transaction.atomic():
        position = c.attachments.count()
        a = NetworkAttachment.objects.create(
            container=c,
            network=net,
            aliases=wanted.aliases,
            requested_ip=ip,
            requested_ip6=ip6,
            position=position,
        )
        if endpoint:
            a.endpoint_id = _endpoint_id(c.id, net.id)
            a.ip, a.prefixlen = endpoint["ip"], endpoint["prefixlen"]
            a.gateway, a.mac = endpoint["gateway"], endpoint["mac"]
            a.ip6, a.prefixlen6 = endpoint.get("ip6") or "", endpoint.get("prefixlen6") or 0
            a.gateway6 = endpoint.get("gateway6") or ""
            a.save()
        _emit(net, "connect", container=c.id)


def do_disconnect(c: Container, net: Network) -> None:
    a = c.attachments.filter(network=net).first()
    if a is None:
        raise NotFound(f"container {c.id[:12]} is not connected to network {net.name}")
    try:
        run_on_node(c.node, tasks.disconnect_container, c.id, net.id)
    except NotFound:
        pass
    with transaction.atomic():
        a.delete()
        _emit(net, "disconnect", container=c.id)
