"""/images/... and /commit of the Docker Engine API (local images)."""

from django.http import HttpResponse, JsonResponse

from ..errors import BadRequest
from ..nodes import local_node
from ..services import images as svc
from .base import engine_view, flag
from .render import image_history, image_inspect, image_summary


@engine_view("GET")
def list_images(request, actor):
    node = local_node()
    images = node.images.all().order_by("-created")
    rows = [image_summary(i) for i in images]
    if not flag(request, "all"):
        rows = [r for r in rows if r["RepoTags"]] + [r for r in rows if not r["RepoTags"]]
    return JsonResponse(rows, safe=False)


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
    report = svc.do_remove(local_node(), name, force=flag(request, "force"))
    return JsonResponse(report, safe=False)
