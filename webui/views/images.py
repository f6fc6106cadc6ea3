import json

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from engine.api.render import image_history, image_inspect
from engine.models import Image, Node
from engine.services import images as svc
from engine.services.access import visible_containers

from ..access import actor_of, page
from ..audit import record
from ..forms import BuildForm, PullForm, TagForm


def _image(request, image_id: str) -> tuple[svc.ImageView, Image]:
    """An image the user may see, by its full id, with their view of its node; else a 404
    that says no more than a missing image would."""
    actor = actor_of(request.user)
    for row in Image.objects.filter(image_id=image_id).select_related("node"):
        view = svc.ImageView(actor, row.node)
        if view.sees(row):
            return view, view.present(row)
    raise Http404("No such image")


@page
def image_list(request):
    actor = actor_of(request.user)
    images = []
    for node in Node.objects.all():
        rows = Image.objects.filter(node=node).select_related("node")
        images += svc.ImageView(actor, node).images(rows)
    images.sort(key=lambda i: i.created, reverse=True)
    used = set(visible_containers(actor).values_list("image_id", flat=True))
    return render(
        request,
        "webui/images.html",
        {
            "images": images,
            "used": used,
            "pull_form": PullForm(),
            "build_form": BuildForm(),
        },
    )


@page
def image_detail(request, image_id):
    view, image = _image(request, image_id)
    layers = [
        {"position": il.position + 1, "diff_id": il.layer.diff_id, "size": il.layer.size}
        for il in image.imagelayer_set.select_related("layer")
    ]
    used_by = visible_containers(view.actor).filter(node=view.node, image_id=image.image_id)
    return render(
        request,
        "webui/image.html",
        {
            "image": image,
            "layers": layers,
            "history": image_history(image),
            "config": json.dumps(image_inspect(image, [])["Config"], indent=2),
            "tag_form": TagForm(),
            "containers": used_by.count(),
        },
    )


@require_POST
@page
def tag(request, image_id):
    view, image = _image(request, image_id)
    form = TagForm(request.POST)
    if form.is_valid():
        repo, name = form.cleaned_data["repository"], form.cleaned_data["tag"]
        svc.do_tag(view.actor, view.node, image.image_id, repo, name)
        record(request.user, "image.tag", f"{repo}:{name}", image=image.image_id)
        messages.success(request, f"Tagged {repo}:{name}")
    return redirect("webui:image", image_id=image.image_id)


@require_POST
@page
def remove(request, image_id):
    view, image = _image(request, image_id)
    ref = request.POST.get("ref") or image.image_id
    # The Engine API's own rmi, so the same rules decide who may remove what.
    report = svc.do_remove(view.actor, view.node, ref, force=bool(request.POST.get("force")))
    record(request.user, "image.remove", ref, report=report)
    messages.success(request, "; ".join(f"{k} {v}" for e in report for k, v in e.items()))
    left = Image.objects.filter(pk=image.pk).first()
    if left is not None and svc.ImageView(view.actor, view.node).sees(left):
        return redirect("webui:image", image_id=image.image_id)
    return redirect("webui:images")
