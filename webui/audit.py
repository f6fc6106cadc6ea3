"""The audit log: one `record()` call per thing worth knowing who did."""

import contextlib
import contextvars
from collections.abc import Iterator

from django.contrib.auth.models import AbstractBaseUser

from .models import AuditEntry

# Who is acting in this request, for entries written by model signals that cannot see it.
_acting: contextvars.ContextVar[AbstractBaseUser | None] = contextvars.ContextVar(
    "dockyard_acting", default=None
)


@contextlib.contextmanager
def acting(user: AbstractBaseUser | None) -> Iterator[None]:
    token = _acting.set(user)
    try:
        yield
    finally:
        _acting.reset(token)


def current_user() -> AbstractBaseUser | None:
    return _acting.get()


def record(user: AbstractBaseUser | None, action: str, target: str = "", **detail) -> AuditEntry:
    user = user if user is not None and user.is_authenticated else current_user()
    return AuditEntry.objects.create(
        user=user,
        username=user.get_username() if user else "",
        action=action,
        target=target[:300],
        detail=detail,
    )
