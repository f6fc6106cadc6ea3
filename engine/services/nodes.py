"""Nodes of a cluster: join tokens, joining, revoking, state, drain, and where to place.

A host joins with a one-time token an admin printed (`manage.py join_token` or the
dashboard); it gets credentials of its own (nodes_credentials.py) and from then on
heartbeats through its agent. A joined node whose heartbeat is older than NODE_DOWN_AFTER is
down: its containers show as unknown and requests for them fail at once.
"""

import hashlib
import ipaddress
import os
import re
import secrets
import socket
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from ..errors import BadRequest, Conflict, Forbidden, NotFound, Unavailable
from ..models import Container, JoinToken, Node
from ..nodes import NODE_DOWN_AFTER, is_down, local_node
from ..streams.endpoints import node_token
from . import nodes_credentials
from .access import Actor
from .nodes_images import ensure_image
from .placement import NodeLoad, NoNodeFits, place, request_for

JOIN_TOKEN_TTL = timedelta(hours=1)
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,40}$")
_TOKEN_PREFIX = "dyj_"


@dataclass(frozen=True)
class NodeGrant:
    """What a node receives when it joins: everything it needs to run its worker and agent."""

    node: str
    database_url: str
    redis_url: str
    stream_token: str
    registry: str


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def do_issue_join_token(ttl: timedelta = JOIN_TOKEN_TTL) -> str:
    """A new join token; only its hash is kept, so this is the one time it is seen."""
    secret = _TOKEN_PREFIX + secrets.token_urlsafe(32)
    JoinToken.objects.create(secret_hash=_hash(secret), expires=timezone.now() + ttl)
    return secret


def join_command(control_url: str, secret: str) -> str:
    return f"make node JOIN={control_url.rstrip('/')} TOKEN={secret}"


def check_name(name: str) -> str:
    if not _NAME.match(name or ""):
        raise BadRequest(
            f"invalid node name {name!r}: lower-case letters, digits and dashes, at most 41"
        )
    return name


@transaction.atomic
def do_join(
    secret: str, name: str, info: dict, control_host: str, control_address: str = ""
) -> NodeGrant:
    """Spend `secret` on the node `name`; answers its credentials. A token that is unknown,
    spent or expired is refused the same way, so a guesser learns nothing.

    `control_address` is the control plane's address the joining host connected to: the
    first one becomes its own node's tunnel address, which the joined nodes can reach."""
    token = JoinToken.objects.select_for_update().filter(secret_hash=_hash(secret or "")).first()
    if token is None or token.used is not None or token.expires <= timezone.now():
        raise Forbidden("invalid join token: it is unknown, already used or expired")
    name = check_name(name)
    if name == settings.DOCKYARD_NODE or Node.objects.filter(name=name, joined=False).exists():
        raise Conflict(f"the name {name!r} belongs to the control plane's own node")
    token.used, token.used_by = timezone.now(), name
    token.save(update_fields=["used", "used_by"])
    node, _ = Node.objects.get_or_create(name=name)
    node.joined, node.revoked = True, False
    node.stream_address = str(info.get("stream_address") or "")[:300]
    node.tunnel_address = _ipv4(node.stream_address.removeprefix("tcp://").rsplit(":", 1)[0])
    node.engine_version = str(info.get("engine_version") or "")[:40]
    labels = info.get("labels") or {}
    if isinstance(labels, dict):
        node.labels = {str(k)[:100]: str(v)[:200] for k, v in labels.items()}
    node.save()
    control = local_node()
    if not control.tunnel_address and _ipv4(control_address):
        control.tunnel_address = _ipv4(control_address)
        control.save(update_fields=["tunnel_address"])
    credentials = nodes_credentials.grant(name, control_host)
    return NodeGrant(
        node=name,
        database_url=credentials.database_url,
        redis_url=credentials.redis_url,
        stream_token=node_token(name),
        registry=control_host,
    )


def _ipv4(host: str) -> str:
    """`host` if it is an IPv4 address other hosts can reach (tunnels carry IPv4), else ""."""
    try:
        address = ipaddress.IPv4Address(host)
    except ValueError:
        return ""
    return "" if address.is_loopback or address.is_unspecified else str(address)


def do_revoke(name: str) -> Node:
    """The node's database role and Redis user go, with their open connections; its
    containers stay in the ORM, shown as unknown, until it joins again."""
    node = Node.objects.filter(name=name, joined=True).first()
    if node is None:
        raise NotFound(f"no joined node named {name!r}")
    nodes_credentials.revoke(name)
    Node.objects.filter(id=node.id).update(revoked=True, last_seen=None)
    node.refresh_from_db()
    return node


def down_node_ids() -> set[int]:
    """The ids of the joined nodes that are down, in one query."""
    stale = timezone.now() - NODE_DOWN_AFTER
    rows = Node.objects.filter(joined=True).filter(
        Q(revoked=True) | Q(last_seen__isnull=True) | Q(last_seen__lt=stale)
    )
    return set(rows.values_list("id", flat=True))


def status(node: Node) -> str:
    """`docker node ls`'s STATUS: ready or down."""
    if node.revoked:
        return "down"
    if node.joined:
        return "down" if is_down(node) else "ready"
    fresh = node.last_seen and timezone.now() - node.last_seen <= NODE_DOWN_AFTER
    return "ready" if fresh else "down"


def list_nodes() -> list[Node]:
    return list(Node.objects.annotate(container_count=Count("containers")).order_by("name"))


def do_update_node(
    actor: Actor, node: Node, availability: str, labels: dict[str, str] | None = None
) -> Node:
    """`docker node update`: drain or activate a node, set its placement labels."""
    if not actor.admin:
        raise Forbidden("only administrators may update nodes")
    if availability not in Node.Availability.values:
        raise BadRequest(f"invalid availability {availability!r}: active or drain")
    node.availability = availability
    if labels is not None:
        node.labels = {str(k)[:100]: str(v)[:200] for k, v in labels.items()}
    node.save(update_fields=["availability", "labels"])
    return node


def clustered() -> bool:
    """Whether any host has joined: until then every container runs on this machine."""
    return Node.objects.filter(joined=True).exists()


def _reserved(host: dict) -> tuple[float, int]:
    cpus = (host.get("NanoCpus") or 0) / 1e9
    if not cpus and host.get("CpuQuota") and host.get("CpuPeriod"):
        cpus = host["CpuQuota"] / host["CpuPeriod"]
    return cpus, host.get("MemoryReservation") or host.get("Memory") or 0


def node_loads() -> list[NodeLoad]:
    down = down_node_ids()
    loads = []
    for node in Node.objects.filter(revoked=False):
        held = Container.objects.filter(node=node).exclude(status__in=["exited", "dead"])
        cpus = memory = 0
        for host in held.values_list("host_config", flat=True):
            c, m = _reserved(host or {})
            cpus, memory = cpus + c, memory + m
        active = node.availability == Node.Availability.ACTIVE
        loads.append(
            NodeLoad(
                name=node.name,
                schedulable=active and node.id not in down,
                labels=node.labels or {},
                cpus=node.cpus,
                memory=node.memory,
                reserved_cpus=cpus,
                reserved_memory=memory,
                containers=held.count(),
            )
        )
    return loads


def place_container(actor: Actor, body) -> Node:
    """The node a new container goes to, holding its image by the time this returns."""
    node = choose_node(body.Labels or {}, body.Env or [], body.HostConfig.model_dump())
    if node.joined:
        ensure_image(actor, node, body.Image)
    return node


def choose_node(labels: dict, env: list[str], host: dict) -> Node:
    """The node a new container goes to (see placement.py)."""
    cpus, memory = _reserved(host)
    try:
        request = request_for(labels or {}, env or [], cpus, memory)
    except ValueError as e:
        raise BadRequest(str(e)) from None
    if not clustered() and not (request.node or request.constraints):
        return local_node()
    try:
        name = place(request, node_loads())
    except NoNodeFits as e:
        raise Unavailable(f"no node can run this container: {e}") from None
    return Node.objects.get(name=name)


def control_url() -> str:
    """The URL other hosts join at: where the web process listens, or this host's name when
    it listens on every address."""
    host, port = os.environ.get("DOCKYARD_HOST", "127.0.0.1"), os.environ.get("DOCKYARD_PORT")
    if host in ("0.0.0.0", "::", ""):
        host = socket.gethostname()
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port or 8000}"


def shown_state(c: Container) -> str:
    """A container's state as users see it: "unknown" while its node is down, since what
    runs there cannot be known (it is neither gone nor known to be running). Every caller
    has the node loaded with the container, so this asks the database nothing."""
    return "unknown" if is_down(c.node) else c.status


def node_of(c: Container) -> dict:
    """`docker inspect`'s Node, as Swarm classic showed it."""
    node = c.node
    address = node.stream_address.removeprefix("tcp://").rsplit(":", 1)[0]
    return {
        "ID": node.name,
        "Name": node.name,
        "Addr": address or "127.0.0.1",
        "IP": address.strip("[]") or "127.0.0.1",
        "Cpus": node.cpus,
        "Memory": node.memory,
        "Labels": node.labels or {},
    }


def _bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.4g} {unit}"
        n /= 1024
    return f"{n} B"


def system_status() -> list[list[str]] | None:
    """`docker info`'s SystemStatus for a cluster, in Swarm classic's words; None on a
    single machine, as dockerd answers."""
    if not clustered():
        return None
    loads = {load.name: load for load in node_loads()}
    rows = [["Role", "primary"], ["Strategy", "spread"], ["Filters", "constraint, node"]]
    nodes = list_nodes()
    rows.append(["Nodes", str(len(nodes))])
    for node in nodes:
        load = loads.get(node.name)
        address = node.stream_address.removeprefix("tcp://") or "local"
        state = status(node)
        rows += [
            [f" {node.name}", address],
            ["  └ Status", "Healthy" if state == "ready" else "Unhealthy"],
            ["  └ Availability", node.availability],
            ["  └ Containers", str(node.container_count)],
            ["  └ Reserved CPUs", f"{load.reserved_cpus:g} / {node.cpus}" if load else "-"],
            [
                "  └ Reserved Memory",
                f"{_bytes(load.reserved_memory)} / {_bytes(node.memory)}" if load else "-",
            ],
            ["  └ Labels", ", ".join(f"{k}={v}" for k, v in (node.labels or {}).items())],
            ["  └ UpdatedAt", node.last_seen.isoformat() if node.last_seen else "never"],
        ]
    return rows
