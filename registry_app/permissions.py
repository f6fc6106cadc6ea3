"""Who may pull, push or delete in which repository.

`<user>/...` belongs to that user, `<team>/...` to the team's members by role, `library/...`
(and names without a namespace) is pulled by everyone and written by administrators only; a public
repository is pulled by anyone, a private one only by its owners. Administrators (an
accounts.actors.Actor whose `admin` is set) may do everything.
"""

from django.db.models import Q, QuerySet

from accounts.actors import Actor
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


def _signed_in(actor: Actor | None) -> bool:
    user = actor.user if actor is not None else None
    return user is not None and user.is_authenticated and user.is_active


def allowed_actions(actor: Actor | None, name: str) -> frozenset[str]:
    """What `actor` (None for anonymous) may do in the repository `name`, scopes aside."""
    if actor is not None and actor.admin:
        return ALL
    namespace = namespace_of(name)
    actions: frozenset[str] = frozenset()
    user = actor.user if actor is not None else None
    if namespace == PLATFORM_NAMESPACE:
        actions = frozenset({PULL})
    elif _signed_in(actor):
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


def visible_repositories(actor: Actor | None) -> QuerySet[Repository]:
    """Repositories `actor` may pull, for the catalog."""
    repositories = Repository.objects.all()
    if actor is not None and actor.admin:
        return repositories
    visible = Q(namespace__name=PLATFORM_NAMESPACE) | Q(visibility=Repository.Visibility.PUBLIC)
    if _signed_in(actor):
        user = actor.user
        teams = Membership.objects.filter(user=user).values("team__name")
        visible |= Q(namespace__name=user.get_username()) | Q(namespace__name__in=teams)
    return repositories.filter(visible)
