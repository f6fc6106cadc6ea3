"""The volumes page: the user's volumes on every node, their size, who uses them."""

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from engine.models import Node
from engine.services import volume_commands, volumes
from engine.services.access import visible_containers

from ..access import actor_of, page
from ..audit import record


@page
def volume_list(request):
    actor = actor_of(request.user)
    rows = []
    seen = visible_containers(actor)
    for node in Node.objects.filter(volumes__isnull=False).distinct():
        for volume, size in volume_commands.disk_usage(actor, node):
            users = sorted(seen.filter(volume_mounts__volume=volume).values_list("name", flat=True))
            rows.append({"volume": volume, "size": size, "users": users})
    rows.sort(key=lambda r: r["volume"].created, reverse=True)
    return render(request, "webui/volumes.html", {"rows": rows})


@require_POST
@page
def remove(request, node, name):
    actor = actor_of(request.user)
    found = Node.objects.filter(name=node).first()
    if found is None:
        raise Http404("No such volume")
    # The Engine API's own removal, so a volume in use is refused the same way.
    volume = volume_commands.resolve_volume(actor, found, name)
    volumes.do_remove_volume(actor, volume)
    record(request.user, "volume.remove", name)
    messages.success(request, f"Removed volume {name}")
    return redirect("webui:volumes")


@require_POST
@page
def prune(request):
    actor = actor_of(request.user)
    removed, reclaimed = [], 0
    for node in Node.objects.filter(volumes__isnull=False).distinct():
        names, size = volume_commands.do_prune_volumes(actor, node, {"all": ["true"]})
        removed += names
        reclaimed += size
    record(request.user, "volume.prune", "", volumes=removed)
    messages.success(request, f"Removed {len(removed)} unused volumes ({reclaimed} bytes)")
    return redirect("webui:volumes")
