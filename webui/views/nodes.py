"""The nodes page: every node's state, load and containers; administrators drain nodes and
make join commands there."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from engine.models import Node
from engine.services import nodes as svc

from ..access import actor_of, page
from ..audit import record


@page
def node_list(request):
    loads = {load.name: load for load in svc.node_loads()}
    rows = [
        {"node": node, "status": svc.status(node), "load": loads.get(node.name)}
        for node in svc.list_nodes()
    ]
    # A join command is shown once, right after an administrator asked for it.
    join = request.session.pop("join_command", "")
    return render(request, "webui/nodes.html", {"rows": rows, "join_command": join})


@require_POST
@page
def join_token(request):
    if not actor_of(request.user).admin:
        raise PermissionDenied("only administrators add nodes")
    url = f"{request.scheme}://{request.get_host()}"
    request.session["join_command"] = svc.join_command(url, svc.do_issue_join_token())
    record(request.user, "node.join_token")
    return redirect("webui:nodes")


@require_POST
@page
def availability(request, name):
    node = Node.objects.filter(name=name).first()
    if node is None:
        raise PermissionDenied("no such node")
    wanted = request.POST.get("availability", "")
    svc.do_update_node(actor_of(request.user), node, wanted)
    record(request.user, f"node.{wanted}", name)
    messages.success(request, f"Node {name} is now {wanted}")
    return redirect("webui:nodes")
