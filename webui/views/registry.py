from django.contrib import messages
from django.db.models import Count, Q
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts.services import teams_of
from registry_app.errors import RegistryError
from registry_app.models import Repository
from registry_app.permissions import DELETE, allowed_actions, visible_repositories
from registry_app.services.manifests import do_delete_manifest
from registry_app.services.repositories import do_set_visibility

from ..access import actor_of, page
from ..audit import record


def registry_host(request) -> str:
    return request.get_host()


@page
def repositories(request):
    user = request.user
    teams = teams_of(user).values("name")
    repos = (
        visible_repositories(actor_of(user))
        .select_related("namespace")
        .annotate(tag_count=Count("tags"))
        .order_by("name")
    )
    mine = repos.filter(namespace__name=user.get_username())
    team = repos.filter(namespace__name__in=teams)
    public = repos.exclude(Q(namespace__name=user.get_username()) | Q(namespace__name__in=teams))
    return render(
        request,
        "webui/repositories.html",
        {"sections": [("Mine", mine), ("My teams'", team), ("Public", public)]},
    )


def _repository(user, name: str) -> tuple[Repository, frozenset[str]]:
    actor = actor_of(user)
    repo = visible_repositories(actor).filter(name=name).first()
    if repo is None:
        raise Http404
    return repo, allowed_actions(actor, name)


@page
def repository(request, name):
    repo, actions = _repository(request.user, name)
    tags = repo.tags.select_related("manifest__pushed_by").order_by("-updated", "name")
    return render(
        request,
        "webui/repository.html",
        {
            "repo": repo,
            "tags": tags,
            "host": registry_host(request),
            "can_manage": DELETE in actions,
            "visibilities": Repository.Visibility.choices,
        },
    )


@require_POST
@page
def delete_tag(request, name, tag):
    repo, actions = _repository(request.user, name)
    if DELETE not in actions:
        raise Http404
    try:
        do_delete_manifest(repo, tag)
    except RegistryError as e:
        messages.error(request, str(e))
        return redirect("webui:repository", name=name)
    record(request.user, "tag.delete", f"{name}:{tag}")
    messages.success(request, f"Deleted {name}:{tag}")
    return redirect("webui:repository", name=name)


@require_POST
@page
def visibility(request, name):
    repo, actions = _repository(request.user, name)
    if DELETE not in actions:
        raise Http404
    try:
        do_set_visibility(repo, request.POST.get("visibility", ""))
    except ValueError as e:
        messages.error(request, str(e))
    record(request.user, "repository.visibility", name, visibility=repo.visibility)
    return redirect("webui:repository", name=name)
