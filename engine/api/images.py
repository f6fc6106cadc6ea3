"""/images/... and /commit of the Docker Engine API (local images)."""

from django.http import HttpResponse, JsonResponse

from ..errors import BadRequest, Forbidden
from ..nodes import local_node
from ..services import images as svc
from .base import engine_view, flag, parse_filters
from .render import image_history, image_inspect, image_summary


@engine_view("GET")
def list_images(request, actor):
    filters = parse_filters(request)
    images = svc.filter_images(local_node().images.order_by("-created"), filters)
    return JsonResponse([image_summary(i) for i in images], safe=False)


@engine_view("POST")
def prune(request, actor):
    if not actor.admin:
        raise Forbidden("pruning a node's images is for administrators")
    dangling = parse_filters(request).get("dangling", ["true"])
    deleted, reclaimed = svc.do_prune(local_node(), only_dangling=dangling[0] in ("true", "1"))
    return JsonResponse({"ImagesDeleted": deleted or None, "SpaceReclaimed": reclaimed})


@engine_view("GET")
def inspect(request, actor, name):
    return JsonResponse(image_inspect(svc.resolve_image(local_node(), name)))


@engine_view("GET")
def history(request, actor, name):
    return JsonResponse(image_history(svc.resolve_image(local_node(), name)), safe=False)


@engine_view("POST")
def tag(request, actor, name):
    repo = request.GET.get("repo", "")
    if not repo:
        raise BadRequest("repository name is required")
    svc.do_tag(local_node(), name, repo, request.GET.get("tag", ""))
    return HttpResponse(status=201)


@engine_view("DELETE")
def remove(request, actor, name):
    if not actor.admin:
        raise Forbidden("removing a node's images is for administrators")
    report = svc.do_remove(local_node(), name, force=flag(request, "force"))
    return JsonResponse(report, safe=False)
