"""Repositories: lookup, creation on first push, visibility, and the tag and catalog listings."""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction

from accounts.actors import Actor
from accounts.models import Team

from ..errors import RegistryError
from ..models import Namespace, Repository
from ..names import PLATFORM_NAMESPACE, namespace_of
from ..permissions import visible_repositories


def get_repository(name: str) -> Repository | None:
    return Repository.objects.filter(name=name).first()


def require_repository(name: str) -> Repository:
    repository = get_repository(name)
    if repository is None:
        raise RegistryError("NAME_UNKNOWN", "repository name not known to registry", {"name": name})
    return repository


def repository_for_push(name: str) -> Repository:
    """The repository, created on first push with the namespace its name implies."""
    repository = get_repository(name)
    if repository is not None:
        return repository
    ns_name = namespace_of(name)
    owner = None
    team = None
    if ns_name != PLATFORM_NAMESPACE:
        owner = get_user_model().objects.filter(username=ns_name).first()
        team = None if owner else Team.objects.filter(name=ns_name).first()
    visibility = (
        Repository.Visibility.PUBLIC
        if ns_name == PLATFORM_NAMESPACE
        else getattr(
            settings, "DOCKYARD_REGISTRY_DEFAULT_VISIBILITY", Repository.Visibility.PRIVATE
        )
    )
    try:
        with transaction.atomic():
            namespace, _ = Namespace.objects.get_or_create(
                name=ns_name, defaults={"owner": owner, "team": team}
            )
            return Repository.objects.create(namespace=namespace, name=name, visibility=visibility)
    except IntegrityError:
        return Repository.objects.get(name=name)


def do_set_visibility(repository: Repository, visibility: str) -> None:
    if visibility not in Repository.Visibility.values:
        raise ValueError(f"visibility must be public or private, got {visibility!r}")
    Repository.objects.filter(pk=repository.pk).update(visibility=visibility)
    repository.visibility = visibility


def _page(values, n: int | None, last: str) -> tuple[list[str], bool]:
    if last:
        values = values.filter(name__gt=last)
    values = values.order_by("name").values_list("name", flat=True)
    if n is None:
        return list(values), False
    page = list(values[: n + 1])
    return page[:n], len(page) > n


def list_tags(repository: Repository, n: int | None, last: str) -> tuple[list[str], bool]:
    """One page of tag names in lexical order, and whether more follow."""
    return _page(repository.tags.all(), n, last)


def list_catalog(actor: Actor | None, n: int | None, last: str) -> tuple[list[str], bool]:
    """One page of the repositories `actor` may pull, and whether more follow."""
    return _page(visible_repositories(actor), n, last)
