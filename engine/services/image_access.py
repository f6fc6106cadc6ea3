"""Who may see and change which names of a node's images.

The rules are the registry's namespaces (registry_app/permissions.py) applied to the names a
user gives local images, so that what `docker tag` or `docker build -t` may write on a node is
what `docker push` may write in the platform's registry. Who the actor is comes from
accounts/, through engine/services/access.py.
"""

from dataclasses import dataclass, field

from django.conf import settings

from accounts.models import Membership
from registry_app.names import PLATFORM_NAMESPACE
from registry_app.permissions import ALL, PULL, PUSH, ROLE_ACTIONS
from runtime.errors import InvalidInput
from runtime.images.reference import parse_reference

from ..errors import Forbidden
from .access import Actor


def registry_repository(name: str) -> str | None:
    """The repository of the platform's registry a local image name stands for (`busybox` is
    `library/busybox`, `127.0.0.1:8000/alice/app:1` is `alice/app`); None for a name on any
    other registry, or for a string that is no image name."""
    try:
        ref = parse_reference(name)
    except InvalidInput:
        return None
    if ref.domain is not None and ref.domain != settings.DOCKYARD_REGISTRY:
        return None
    return ref.path if "/" in ref.path else f"{PLATFORM_NAMESPACE}/{ref.path}"


@dataclass(frozen=True)
class ImageNameRights:
    """What an actor may do with the names (repo:tag) of a node's images.

    A local name means a repository of the platform's registry, so it follows the registry's
    namespace rules (registry_app/permissions.py): `<user>/...` is the user's, `<team>/...`
    belongs to the team's members by role (read: use, write and admin: change too), and
    `library/...`, which unqualified names like `busybox` stand for, is read by everyone and
    written by administrators only, as `library/` pushes are. Names on other registries, and
    namespaces that are nobody's, are for administrators. Unlike the registry, a public
    repository grants nothing here: the local name may hold what its owner built and never
    pushed. A user sees such a name only once they pulled it (engine/services/images.py).
    """

    admin: bool
    username: str = ""
    # namespace -> registry actions (pull, push) the actor has there by who they are.
    namespaces: dict[str, frozenset[str]] = field(default_factory=dict)

    def _actions(self, name: str) -> frozenset[str]:
        if self.admin:
            return ALL
        repository = registry_repository(name)
        if repository is None:
            return frozenset()
        return self.namespaces.get(repository.split("/", 1)[0], frozenset())

    def may_read(self, name: str) -> bool:
        return PULL in self._actions(name)

    def may_write(self, name: str) -> bool:
        return PUSH in self._actions(name)

    def check_write(self, name: str) -> None:
        """Refuse, with the rule that applies, to create or move the name `name`."""
        if self.may_write(name):
            return
        repository = registry_repository(name)
        if repository is None:
            raise Forbidden(
                f"{name} is on another registry: only administrators may name images there; "
                f"use {settings.DOCKYARD_REGISTRY}/{self.username}/..."
            )
        namespace, _, rest = repository.partition("/")
        if namespace == PLATFORM_NAMESPACE:
            raise Forbidden(
                f"{name} is a shared image of the library namespace, which only administrators "
                f"may change; name yours {self.username}/{rest}"
            )
        raise Forbidden(
            f"you may not write {name}: your images go under {self.username}/ or a team "
            "you may write to"
        )


def image_name_rights(actor: Actor) -> ImageNameRights:
    if actor.admin:
        return ImageNameRights(admin=True)
    if actor.user is None:
        return ImageNameRights(admin=False, namespaces={PLATFORM_NAMESPACE: frozenset({PULL})})
    namespaces: dict[str, frozenset[str]] = {}
    roles = Membership.objects.filter(user=actor.user).values_list("team__name", "role")
    for team, role in roles:
        namespaces[team] = ROLE_ACTIONS.get(role, frozenset())
    # In the registry's order: the user's own name before a team's, the library before both.
    username = actor.user.get_username()
    namespaces[username] = ALL
    namespaces[PLATFORM_NAMESPACE] = frozenset({PULL})
    return ImageNameRights(admin=False, username=username, namespaces=namespaces)
