"""/images/... and /commit of the Docker Engine API (local images)."""

from django.http import HttpResponse, JsonResponse

from ..errors import BadRequest
from ..nodes import local_node
from ..services import images as svc
from .base import engine_view, flag, parse_filters
from .render import image_history, image_inspect, image_summary


@engine_view("GET")
def list_images(request, actor):
    view = svc.ImageView(actor, local_node())
    images = svc.list_images(view, parse_filters(request))
    return JsonResponse([image_summary(i, view.repo_digests(i)) for i in images], safe=False)


@engine_view("POST")
def prune(request, actor):
    dangling = parse_filters(request).get("dangling", ["true"])
    deleted, reclaimed = svc.do_prune(
        actor, local_node(), only_dangling=dangling[0] in ("true", "1")
    )
    return JsonResponse({"ImagesDeleted": deleted or None, "SpaceReclaimed": reclaimed})


@engine_view("GET")
def inspect(request, actor, name):
    view = svc.ImageView(actor, local_node())
    image = view.resolve(name)
    return JsonResponse(image_inspect(image, view.repo_digests(image)))


@engine_view("GET")
def history(request, actor, name):
    image = svc.resolve_image(actor, local_node(), name)
    return JsonResponse(image_history(image), safe=False)


@engine_view("POST")
def tag(request, actor, name):
    repo = request.GET.get("repo", "")
    if not repo:
        raise BadRequest("repository name is required")
    svc.do_tag(actor, local_node(), name, repo, request.GET.get("tag", ""))
    return HttpResponse(status=201)


@engine_view("DELETE")
def remove(request, actor, name):
    report = svc.do_remove(actor, local_node(), name, force=flag(request, "force"))
    return JsonResponse(report, safe=False)
