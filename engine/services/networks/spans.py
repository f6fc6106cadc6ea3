"""Networks that span nodes over VXLAN.

A user network made while the cluster has joined nodes gets a VNI and spans every node that
runs a container on it: the network's definition is taken by a node when a container placed
there joins it, and each node's tunnel, its peers and the other nodes' containers' names are
brought in line (the `span_network` task, idempotent) whenever a container joins or leaves
on any node. A node tunnels from the address it advertised when it joined; the control
plane's own node from the address the first joining host reached it at (engine.services.nodes).

Addresses on a spanning network are decided in one place, the control plane's database, not
partitioned per node: a partition would fix at creation how many nodes share the subnet and
how many containers each may hold, and a node joining later would find no share left, while
the database already holds every attachment and orders concurrent starts with a row lock on
the network. The address a container gets is written on its attachment before the node is
asked to start it, and the node's runtime takes it as an address asked for.

Dual-stack networks stay on their node: tunnels carry IPv4 between nodes only.
"""

import hashlib
import ipaddress

from django.db import IntegrityError, transaction
from django.db.models import Max, QuerySet

from ... import tasks
from ...errors import ApiError, Conflict, NotFound, Unavailable
from ...models import Container, Network, NetworkAttachment, Node
from ...nodes import is_down, run_on_node

# Below it, VNIs are left to whatever else on the nodes' network uses VXLAN by hand.
FIRST_VNI = 4096


def in_cluster() -> bool:
    return Node.objects.filter(joined=True, revoked=False).exists()


def give_vni(net: Network) -> None:
    """The next free VNI; two networks made at once retry on the unique constraint."""
    for _ in range(5):
        top = Network.objects.aggregate(top=Max("vni"))["top"] or FIRST_VNI - 1
        net.vni = top + 1
        try:
            with transaction.atomic():
                net.save(update_fields=["vni"])
            return
        except IntegrityError:
            continue
    raise Conflict(f"no VNI could be given to network {net.name}; try again")


def spanning(c: Container) -> list[Network]:
    return [
        a.network
        for a in c.attachments.select_related("network").filter(network__vni__isnull=False)
    ]


def reserve_addresses(c: Container) -> None:
    """Give each of `c`'s spanning attachments without an address the lowest free one of its
    network."""
    for a in c.attachments.filter(network__vni__isnull=False, requested_ip="", ip=""):
        with transaction.atomic():
            a.ip = free_address(a.network, exclude=a.id)
            a.save(update_fields=["ip"])


def free_address(net: Network, exclude: int | None = None) -> str:
    """The lowest address of `net` no attachment holds or asked for; inside the caller's
    transaction, which keeps the network's row locked until its choice is saved."""
    net = Network.objects.select_for_update().get(id=net.id)
    taken = {net.gateway}
    for ip, asked in (
        NetworkAttachment.objects.filter(network=net)
        .exclude(id=exclude)
        .values_list("ip", "requested_ip")
    ):
        taken.update((ip, asked))
    return _lowest_free(net, taken)


def _lowest_free(net: Network, taken: set[str]) -> str:
    for address in ipaddress.IPv4Network(net.subnet).hosts():
        if str(address) not in taken:
            return str(address)
    raise Conflict(f"no available IPv4 addresses on network {net.name}")


def join(c: Container) -> None:
    """Before `c` starts: its spanning networks' addresses, and their definitions on its
    node."""
    nets = spanning(c)
    if not nets:
        return
    reserve_addresses(c)
    for net in nets:
        sync(net, also=c.node)


def announce(c: Container) -> None:
    """After `c` started, stopped, was removed, connected or disconnected: every node of its
    spanning networks learns its peers and names again."""
    for net in spanning(c):
        sync(net)


def announce_network(net: Network) -> None:
    if net.vni is not None:
        sync(net)


def resync_changed() -> list[str]:
    """Sync each spanning network whose running containers differ from what its nodes were
    last told; answers the names of those synced.

    The cluster monitor calls it: a container that ends by itself on a joined node is
    recorded there, and a node may send tasks to its own queue only, so the control plane
    tells the other nodes. A network that could not be synced is tried again next time.
    """
    members: dict[str, list] = {}
    running = _running(NetworkAttachment.objects.filter(network__vni__isnull=False))
    for net_id, cid, ip in running.values_list("network_id", "container_id", "ip"):
        members.setdefault(net_id, []).append((cid, ip))
    synced = []
    for net in Network.objects.filter(vni__isnull=False):
        if net.span_told == _digest(members.get(net.id, [])):
            continue
        try:
            sync(net)
        except ApiError:
            continue
        synced.append(net.name)
    return synced


def sync(net: Network, also: Node | None = None) -> None:
    """Bring every node that runs a container on `net` (and `also`) in line: the network
    defined, a tunnel to each other such node, and their containers in the hosts files.

    One sync of a network at a time, under its row lock: each reads the containers after the
    one before told the nodes, so an older view never lands on a node after a newer one."""
    with transaction.atomic():
        list(Network.objects.select_for_update().filter(id=net.id))
        attachments = list(
            _running(NetworkAttachment.objects.filter(network=net)).select_related(
                "container", "container__node"
            )
        )
        _tell_nodes(net, attachments, also)
        told = _digest([(a.container_id, a.ip) for a in attachments])
        Network.objects.filter(id=net.id).update(span_told=told)


def _running(attachments: QuerySet[NetworkAttachment]) -> QuerySet[NetworkAttachment]:
    return attachments.filter(container__status="running").exclude(ip="")


def _digest(members: list[tuple[str, str]]) -> str:
    return hashlib.sha256(repr(sorted(members)).encode()).hexdigest()


def _tell_nodes(net: Network, attachments: list[NetworkAttachment], also: Node | None) -> None:
    nodes = {a.container.node_id: a.container.node for a in attachments}
    if also is not None:
        nodes[also.id] = also
    config = {
        "name": net.name,
        "id": net.id,
        "bridge": "",
        "subnet": net.subnet,
        "gateway": net.gateway,
        "internal": net.internal,
        "labels": net.labels or {},
        "vni": net.vni,
    }
    for node in nodes.values():
        if is_down(node) and node != also:
            continue
        local = node.tunnel_address
        peers = [
            other.tunnel_address
            for other in nodes.values()
            if other.id != node.id and other.tunnel_address and not is_down(other)
        ]
        remote = [[_names(a), a.ip] for a in attachments if a.container.node_id != node.id]
        run_on_node(node, tasks.span_network, config, local, peers if local else [], remote)


def _names(a: NetworkAttachment) -> str:
    c = a.container
    names = [c.config.get("Hostname") or c.id[:12], c.name, *a.aliases]
    return " ".join(dict.fromkeys(names))


def remove_everywhere(net: Network) -> None:
    """`docker network rm` of a spanning network: gone from every node that answers."""
    for node in Node.objects.all():
        if node.id == net.node_id or is_down(node):
            continue
        try:
            run_on_node(node, tasks.remove_network, net.id)
        except (NotFound, Unavailable):
            continue
