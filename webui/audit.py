"""The audit log: one `record()` call per thing worth knowing who did.

Who acts is the request's actor (accounts.actors.acting), set by the dashboard's pages, the
Engine API and the registry alike, so entries written by model signals far from the request
still name the user, and say how they came in: the dashboard, a password, a named token or
the node's own socket.
"""

from django.contrib.auth.models import AbstractBaseUser

from accounts.actors import current_actor

from .models import AuditEntry


def current_user() -> AbstractBaseUser | None:
    actor = current_actor()
    return actor.user if actor is not None else None


def record(user: AbstractBaseUser | None, action: str, target: str = "", **detail) -> AuditEntry:
    """Write an entry about `user` (else the current actor) doing `action` to `target`."""
    actor = current_actor()
    if user is None or not user.is_authenticated:
        user = actor.user if actor is not None else None
    if actor is not None and actor.user == user:
        detail = {**actor.audit_detail(), **detail}
    # With no user, the node's own socket is the actor ("node-admin"), or nobody is.
    who = user.get_username() if user is not None else ""
    username = who or (actor.label if actor is not None else "")
    return AuditEntry.objects.create(
        user=user, username=username, action=action, target=target[:300], detail=detail
    )
