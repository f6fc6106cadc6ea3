"""Nodes: the join endpoint hosts call with their token, and `docker node ls / inspect /
update` answered from the cluster's nodes in the shape of Docker's swarm node objects."""

import hashlib
import json
import platform

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from pydantic import BaseModel, Field, ValidationError

from accounts.actors import Actor

from ..errors import ApiError, BadRequest, MethodNotAllowed, NotFound, Unavailable
from ..models import Node
from ..services import nodes as svc
from .base import engine_view, parse_body
from .schemas import describe
from .system import VERSION


class JoinBody(BaseModel):
    token: str = Field(max_length=200)
    name: str = Field(max_length=100)
    stream_address: str = Field(default="", max_length=300)
    engine_version: str = Field(default="", max_length=40)
    labels: dict[str, str] = Field(default_factory=dict)


class NodeSpec(BaseModel):
    Availability: str = ""
    Role: str = ""
    Name: str = ""
    Labels: dict[str, str] | None = None


@csrf_exempt
def join(request: HttpRequest) -> JsonResponse:
    """POST /api/nodes/join: a host spends its join token and gets its credentials."""
    try:
        if request.method != "POST":
            raise MethodNotAllowed("use POST")
        try:
            body = JoinBody.model_validate(json.loads(request.body or b"null"))
        except (ValueError, ValidationError) as e:
            message = describe(e) if isinstance(e, ValidationError) else f"invalid JSON: {e}"
            raise BadRequest(message) from None
        try:
            grant = svc.do_join(
                body.token,
                body.name,
                body.model_dump(),
                request.get_host(),
                # The local address of this connection (ASGI's `server`), not a header.
                request.META.get("SERVER_NAME", ""),
            )
        except RuntimeError as e:
            raise Unavailable(str(e)) from None
    except ApiError as e:
        return e.response()
    return JsonResponse(
        {
            "Node": grant.node,
            "DatabaseURL": grant.database_url,
            "RedisURL": grant.redis_url,
            "StreamToken": grant.stream_token,
            "Registry": grant.registry,
        }
    )


def node_id(node: Node) -> str:
    """Docker's node IDs are 25 characters; ours derive from the name, which is unique."""
    return hashlib.sha256(f"dockyard-node:{node.name}".encode()).hexdigest()[:25]


def _resolve(ref: str) -> Node:
    for node in Node.objects.all():
        if ref in (node.name, node_id(node)) or (len(ref) >= 3 and node_id(node).startswith(ref)):
            return node
    raise NotFound(f"node {ref} not found")


def _stamp(value) -> str:
    return value.isoformat().replace("+00:00", "Z") if value else "0001-01-01T00:00:00Z"


def node_object(node: Node) -> dict:
    manager = not node.joined
    address = node.stream_address.removeprefix("tcp://").rsplit(":", 1)[0] or "127.0.0.1"
    body = {
        "ID": node_id(node),
        "Version": {"Index": 1},
        "CreatedAt": _stamp(node.registered),
        "UpdatedAt": _stamp(node.last_seen or node.registered),
        "Spec": {
            "Name": node.name,
            "Labels": node.labels or {},
            "Role": "manager" if manager else "worker",
            "Availability": node.availability,
        },
        "Description": {
            "Hostname": node.name,
            "Platform": {"Architecture": platform.machine(), "OS": "linux"},
            "Resources": {"NanoCPUs": node.cpus * 10**9, "MemoryBytes": node.memory},
            "Engine": {"EngineVersion": node.engine_version or VERSION},
        },
        "Status": {"State": svc.status(node), "Addr": address},
    }
    if manager:
        body["ManagerStatus"] = {"Leader": True, "Reachability": "reachable", "Addr": address}
    return body


@engine_view("GET")
def list_nodes(request, actor: Actor):
    return JsonResponse([node_object(n) for n in svc.list_nodes()], safe=False)


@engine_view("GET")
def inspect(request, actor: Actor, ref: str):
    return JsonResponse(node_object(_resolve(ref)))


@engine_view("POST")
def update(request, actor: Actor, ref: str):
    node = _resolve(ref)
    spec = parse_body(request, NodeSpec, optional=True)
    svc.do_update_node(actor, node, spec.Availability or node.availability, spec.Labels)
    return JsonResponse({})
