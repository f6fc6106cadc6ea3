"""Volume views of the Engine API: `docker volume create/ls/inspect/rm/prune`."""

from django.http import HttpResponse, JsonResponse

from ..models import Volume
from ..nodes import local_node
from ..services import volume_commands, volumes
from .base import engine_view, flag, parse_body, parse_filters
from .schemas import VolumeCreate


def volume_json(volume: Volume, size: int | None = None) -> dict:
    """Docker's Volume object; UsageData only where it was measured (`system df -v`)."""
    body = {
        "CreatedAt": volume.created.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "Driver": volume.driver,
        "Labels": volume.labels or {},
        "Mountpoint": volumes.mountpoint(volume.name),
        "Name": volume.name,
        "Options": volume.options or {},
        "Scope": "local",
    }
    if size is not None:
        body["UsageData"] = {"Size": size, "RefCount": volume.mounts.count()}
    return body


@engine_view("GET")
def list_volumes(request, actor):
    filters = parse_filters(request)
    rows = volumes.visible_volumes(actor).filter(node=local_node())
    found = [volume_json(v) for v in rows if volume_commands.matches(v, filters)]
    return JsonResponse({"Volumes": found, "Warnings": []})


@engine_view("POST")
def create(request, actor):
    body = parse_body(request, VolumeCreate, optional=True)
    volume = volume_commands.do_create_volume(
        actor, local_node(), body.Name, body.Driver, body.Labels, body.DriverOpts
    )
    return JsonResponse(volume_json(volume), status=201)


@engine_view("POST")
def prune(request, actor):
    removed, reclaimed = volume_commands.do_prune_volumes(
        actor, local_node(), parse_filters(request)
    )
    return JsonResponse({"VolumesDeleted": removed or None, "SpaceReclaimed": reclaimed})


@engine_view("GET", "DELETE")
def volume(request, actor, name):
    found = volume_commands.resolve_volume(actor, local_node(), name)
    if request.method == "DELETE":
        volumes.do_remove_volume(actor, found, force=flag(request, "force"))
        return HttpResponse(status=204)
    return JsonResponse(volume_json(found))


def disk_usage_rows(actor, node) -> list[dict]:
    """The Volumes of `docker system df`, with their sizes and how many containers use them."""
    return [volume_json(v, size) for v, size in volume_commands.disk_usage(actor, node)]
