import json

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from engine.api.render import image_history, image_inspect
from engine.errors import NotFound
from engine.models import Container, Image
from engine.services import images as svc

from ..access import page
from ..audit import record
from ..forms import BuildForm, PullForm, TagForm


def _image(image_id: str) -> Image:
    image = Image.objects.filter(image_id=image_id).select_related("node").first()
    if image is None:
        raise NotFound(f"No such image: {image_id}")
    return image


@page
def image_list(request):
    images = Image.objects.select_related("node").order_by("-created")
    used = set(Container.objects.values_list("image_id", flat=True))
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
    image = _image(image_id)
    layers = [
        {"position": il.position + 1, "diff_id": il.layer.diff_id, "size": il.layer.size}
        for il in image.imagelayer_set.select_related("layer")
    ]
    return render(
        request,
        "webui/image.html",
        {
            "image": image,
            "layers": layers,
            "history": image_history(image),
            "config": json.dumps(image_inspect(image)["Config"], indent=2),
            "tag_form": TagForm(),
            "containers": Container.objects.filter(image_id=image.image_id).count(),
        },
    )


@require_POST
@page
def tag(request, image_id):
    image = _image(image_id)
    form = TagForm(request.POST)
    if form.is_valid():
        repo, name = form.cleaned_data["repository"], form.cleaned_data["tag"]
        svc.do_tag(image.node, image.image_id, repo, name)
        record(request.user, "image.tag", f"{repo}:{name}", image=image.image_id)
        messages.success(request, f"Tagged {repo}:{name}")
    return redirect("webui:image", image_id=image.image_id)


@require_POST
@page
def remove(request, image_id):
    image = _image(image_id)
    ref = request.POST.get("ref") or image.image_id
    report = svc.do_remove(image.node, ref, force=bool(request.POST.get("force")))
    record(request.user, "image.remove", ref, report=report)
    messages.success(request, "; ".join(f"{k} {v}" for e in report for k, v in e.items()))
    if Image.objects.filter(node=image.node, image_id=image.image_id).exists():
        return redirect("webui:image", image_id=image.image_id)
    return redirect("webui:images")
