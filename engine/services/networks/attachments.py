"""A container's networks: what a create request asks for, the plan its start follows,
what the runtime gave it, and docker network connect/disconnect.

A container's attachments are what it asked for; the runtime endpoint (addresses, MAC) is
filled in while it runs.
"""

import hashlib
import ipaddress
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Q

from platformkit.prepared import PreparedLookup

from ... import tasks
from ...api.schemas import NetworkingSpec
from ...errors import BadRequest, Conflict, NotFound
from ...models import Container, Network, NetworkAttachment, Node, PublishedPort
from ...nodes import run_on_node
from ..access import Actor
from . import spans
from .definitions import DEFAULT, HOST, NONE, emit, resolve_network
from .ports import port_requests


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
                # A spanning network's address was decided by the control plane (see spans).
                "ip": a.requested_ip or (a.ip if a.network.vni is not None else ""),
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
        given = ip
        if net.vni is not None:
            if not given:
                with transaction.atomic():
                    given = spans.free_address(net)
            spans.sync(net, also=c.node)
        endpoint = run_on_node(
            c.node,
            tasks.connect_container,
            c.id,
            net.id,
            given or None,
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
        emit(net, "connect", container=c.id)
    if endpoint:
        spans.announce_network(net)


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
        emit(net, "disconnect", container=c.id)
    spans.announce_network(net)


# `docker inspect` shows them, and `docker logs` inspects first: compiled once (see
# platformkit/prepared.py), as a prefetch with its join compiled for each request cost more
# than these queries.
_ATTACHED = PreparedLookup(
    lambda cid: NetworkAttachment.objects.filter(container_id=cid), cid="\0cid"
)
_NETWORK = PreparedLookup(lambda pk: Network.objects.filter(pk=pk), pk="\0pk")


def attachments_of(c: Container) -> list[NetworkAttachment]:
    """`c`'s network attachments in their order, each with its network."""
    found = _ATTACHED.all(cid=c.id)
    for a in found:
        a.network = _NETWORK.first(pk=a.network_id)
    return found
