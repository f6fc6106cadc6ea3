"""Who may pull, push or delete in which repository.

`<user>/...` belongs to that user, `<team>/...` to the team's members by role, `library/...`
(and names without a namespace) is pulled by everyone and written by staff only; a public
repository is pulled by anyone, a private one only by its owners.
"""

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Q, QuerySet

from accounts.models import Membership

from .models import Repository
from .names import PLATFORM_NAMESPACE, namespace_of

PULL, PUSH, DELETE = "pull", "push", "delete"
ALL = frozenset({PULL, PUSH, DELETE})
ROLE_ACTIONS = {
    Membership.Role.READ: frozenset({PULL}),
    Membership.Role.WRITE: frozenset({PULL, PUSH}),
    Membership.Role.ADMIN: ALL,
}
# What a personal access token's scopes let it do in the registry.
SCOPE_ACTIONS = {"read": frozenset({PULL}), "write": frozenset({PULL, PUSH}), "admin": ALL}


def _signed_in(user: AbstractBaseUser | None) -> bool:
    return user is not None and user.is_authenticated and user.is_active


def is_admin(user: AbstractBaseUser | None) -> bool:
    return _signed_in(user) and (user.is_staff or user.is_superuser)


def allowed_actions(user: AbstractBaseUser | None, name: str) -> frozenset[str]:
    """What `user` (None for anonymous) may do in the repository `name`."""
    if is_admin(user):
        return ALL
    namespace = namespace_of(name)
    actions: frozenset[str] = frozenset()
    if namespace == PLATFORM_NAMESPACE:
        actions = frozenset({PULL})
    elif _signed_in(user):
        if namespace == user.get_username():
            return ALL
        role = (
            Membership.objects.filter(team__name=namespace, user=user)
            .values_list("role", flat=True)
            .first()
        )
        actions = ROLE_ACTIONS.get(role, frozenset())
    if (
        PULL not in actions
        and Repository.objects.filter(name=name, visibility=Repository.Visibility.PUBLIC).exists()
    ):
        actions |= {PULL}
    return actions


def scope_actions(scopes: frozenset[str]) -> frozenset[str]:
    return frozenset().union(*(SCOPE_ACTIONS.get(s, frozenset()) for s in scopes))


def visible_repositories(user: AbstractBaseUser | None) -> QuerySet[Repository]:
    """Repositories `user` may pull, for the catalog."""
    repositories = Repository.objects.all()
    if is_admin(user):
        return repositories
    visible = Q(namespace__name=PLATFORM_NAMESPACE) | Q(visibility=Repository.Visibility.PUBLIC)
    if _signed_in(user):
        teams = Membership.objects.filter(user=user).values("team__name")
        visible |= Q(namespace__name=user.get_username()) | Q(namespace__name__in=teams)
    return repositories.filter(visible)
