"""Networks as objects users own: who sees which, create, remove, prune, and the node's
networks mirrored in the ORM.

Networks live on a node (Docker's `local` scope), but for a user network made in a cluster,
which spans nodes (see spans). `bridge`, `host` and `none` are pre-defined; `bridge` is the
runtime's default network, made on first use.
"""

import hashlib
from dataclasses import dataclass, field

from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from ... import tasks
from ...errors import Conflict, Forbidden, NotFound
from ...events import make_event, publish
from ...models import Network, Node
from ...nodes import run_on_node
from ..access import Actor, teammates
from . import spans

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
    # A spanning network is on every node (see spans).
    qs = visible_networks(actor).filter(Q(node=node) | Q(vni__isnull=False))
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
            if config.get("vni"):
                # A spanning network's row is the control plane's, whichever node reports it.
                continue
            _upsert(node, config)
        if complete:
            ids = [c["id"] for c in configs]
            gone = Network.objects.filter(node=node, driver=Network.Driver.BRIDGE, vni=None)
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
    same_name = Network.objects.filter(Q(node=node) | Q(vni__isnull=False), name=spec.name)
    if same_name.exists():
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
            emit(net, "create")
    except IntegrityError:
        run_on_node(node, tasks.remove_network, config["id"])
        raise Conflict(f"network with name {spec.name} already exists") from None
    if not spec.ipv6 and spans.in_cluster():
        spans.give_vni(net)
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
    if net.vni is not None:
        spans.remove_everywhere(net)
    with transaction.atomic():
        net.delete()
        emit(net, "destroy")


def do_prune_networks(actor: Actor) -> list[str]:
    removed = []
    for net in visible_networks(actor).filter(builtin=False, attachments__isnull=True):
        do_remove_network(actor, net)
        removed.append(net.name)
    return removed


def emit(net: Network, action: str, **extra) -> None:
    event = make_event("network", action, net.id, {"name": net.name, "type": net.driver, **extra})
    transaction.on_commit(lambda: publish(event))
