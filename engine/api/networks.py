"""Network views of the Engine API: `docker network create/ls/inspect/rm/connect/...`."""

import ipaddress

from django.http import HttpResponse, JsonResponse

from ..errors import BadRequest, NotFound
from ..models import Network
from ..nodes import local_node
from ..services import networks as svc
from ..services.access import Actor, visible_containers
from ..services.containers import resolve_container
from .base import engine_view, parse_body, parse_filters
from .schemas import IPAMPool, NetworkConnect, NetworkCreate, NetworkDisconnect

_SCOPE = "local"


def network_json(net: Network, actor: Actor) -> dict:
    """`docker network inspect`; Containers lists only those the actor may see (the default
    bridge holds every user's)."""
    visible = None if actor.admin else set(visible_containers(actor).values_list("id", flat=True))
    containers = {}
    for a in net.attachments.select_related("container"):
        if visible is not None and a.container_id not in visible:
            continue
        if a.container.running and a.ip:
            containers[a.container_id] = {
                "Name": a.container.name,
                "EndpointID": a.endpoint_id,
                "MacAddress": a.mac,
                "IPv4Address": f"{a.ip}/{a.prefixlen}",
                "IPv6Address": f"{a.ip6}/{a.prefixlen6}" if a.ip6 else "",
            }
    ipam = [{"Subnet": net.subnet, "Gateway": net.gateway}] if net.subnet else []
    if net.subnet6:
        ipam.append({"Subnet": net.subnet6, "Gateway": net.gateway6})
    options = {"com.docker.network.bridge.default_bridge": "true"} if net.name == "bridge" else {}
    return {
        "Name": net.name,
        "Id": net.id,
        "Created": net.created.isoformat().replace("+00:00", "Z"),
        "Scope": _SCOPE,
        "Driver": net.driver,
        "EnableIPv6": bool(net.subnet6),
        "IPAM": {"Driver": "default", "Options": None, "Config": ipam},
        "Internal": net.internal,
        "Attachable": False,
        "Ingress": False,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": False,
        "Containers": containers,
        "Options": options,
        "Labels": net.labels or {},
    }


def _matches(net: Network, filters: dict[str, list[str]]) -> bool:
    def label_ok(wanted: str) -> bool:
        key, _, value = wanted.partition("=")
        return key in net.labels and (not value or net.labels[key] == value)

    checks = {
        "name": lambda v: v in net.name,
        "id": lambda v: net.id.startswith(v),
        "driver": lambda v: net.driver == v,
        "label": label_ok,
        "type": lambda v: (v == "builtin") == net.builtin,
        "scope": lambda v: v == _SCOPE,
        "dangling": lambda v: (
            (v in ("true", "1")) == (not net.builtin and not net.attachments.exists())
        ),
    }
    for key, values in filters.items():
        check = checks.get(key)
        if check is None:
            continue
        combine = all if key == "label" else any
        if not combine(check(v) for v in values):
            return False
    return True


@engine_view("GET")
def list_networks(request, actor):
    node = local_node()
    svc.default_network(node)
    filters = parse_filters(request)
    rows = [n for n in svc.visible_networks(actor).filter(node=node) if _matches(n, filters)]
    return JsonResponse([network_json(n, actor) for n in rows], safe=False)


@engine_view("POST")
def create(request, actor):
    body = parse_body(request, NetworkCreate)
    if body.Driver not in ("", "bridge"):
        raise NotFound(f'plugin "{body.Driver}" not found')
    pool, pool6 = _pools((body.IPAM.Config or []) if body.IPAM else [])
    spec = svc.NetworkSpec(
        name=body.Name,
        subnet=(pool.Subnet or None) if pool else None,
        gateway=(pool.Gateway or None) if pool else None,
        internal=body.Internal,
        labels=body.Labels or {},
        ip_range=(pool.IPRange or None) if pool else None,
        ipv6=bool(body.EnableIPv6),
        subnet6=pool6.Subnet if pool6 else None,
        gateway6=(pool6.Gateway or None) if pool6 else None,
    )
    net = svc.do_create_network(actor, local_node(), spec)
    return JsonResponse({"Id": net.id, "Warning": ""}, status=201)


def _pools(config: list[IPAMPool]) -> tuple[IPAMPool | None, IPAMPool | None]:
    """The IPv4 and the IPv6 pool of a create request, told apart by their subnets (a pool
    without a subnet is an IPv4 one whose subnet the node picks)."""
    by_family: dict[int, IPAMPool] = {}
    for pool in config:
        version = 4
        if pool.Subnet:
            try:
                version = ipaddress.ip_network(pool.Subnet, strict=False).version
            except ValueError:
                raise BadRequest(f"invalid subnet {pool.Subnet}") from None
        if version in by_family:
            raise BadRequest(f"one IPv{version} subnet per network is supported")
        by_family[version] = pool
    return by_family.get(4), by_family.get(6)


@engine_view("GET", "DELETE")
def network(request, actor, ref):
    net = svc.resolve_network(actor, local_node(), ref)
    if request.method == "DELETE":
        svc.do_remove_network(actor, net)
        return HttpResponse(status=204)
    return JsonResponse(network_json(net, actor))


@engine_view("POST")
def connect(request, actor, ref):
    body = parse_body(request, NetworkConnect)
    net = svc.resolve_network(actor, local_node(), ref)
    c = resolve_container(actor, body.Container)
    settings = body.EndpointConfig
    aliases = (settings.Aliases or []) if settings else []
    ipam = settings.IPAMConfig if settings else None
    ip = (ipam.IPv4Address if ipam else "") or ""
    ip6 = (ipam.IPv6Address if ipam else "") or ""
    svc.do_connect(c, net, aliases, ip, ip6)
    return HttpResponse(status=200)


@engine_view("POST")
def disconnect(request, actor, ref):
    body = parse_body(request, NetworkDisconnect)
    net = svc.resolve_network(actor, local_node(), ref)
    svc.do_disconnect(resolve_container(actor, body.Container), net)
    return HttpResponse(status=200)


@engine_view("POST")
def prune(request, actor):
    return JsonResponse({"NetworksDeleted": svc.do_prune_networks(actor)})
