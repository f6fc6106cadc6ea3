"""Who is asking, and what they may do: the one answer every entry point asks.

The Engine API (unix socket and TCP), the registry, the dashboard and its websockets each
turn their credentials into an Actor here, and every permission rule reads the same three
facts from it: the user, whether they act as an administrator, and the token scopes of the
credential they used. An actor is set for the length of a request (`acting`), so that
records written far from the request, such as audit entries from model signals, know who
caused them whether the request came from the dashboard, the docker CLI or the registry.
"""

import contextlib
import contextvars
from collections.abc import Iterator
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser

from .errors import MissingScope
from .models import AccessToken

READ, WRITE, ADMIN = AccessToken.SCOPES
ALL_SCOPES = frozenset(AccessToken.SCOPES)
# Each scope includes the ones below it: a write token may read, an admin token may write.
_RANK = {READ: 0, WRITE: 1, ADMIN: 2}

# How a request proved who it is, for the audit log.
VIA_SOCKET, VIA_SESSION, VIA_PASSWORD, VIA_TOKEN = "unix socket", "dashboard", "password", "token"


@dataclass(frozen=True)
class Actor:
    """A caller: `user` None is the node itself (its unix socket), an administrator."""

    user: AbstractBaseUser | None
    admin: bool
    scopes: frozenset[str] = ALL_SCOPES
    token: AccessToken | None = None
    via: str = VIA_SESSION

    @property
    def label(self) -> str:
        return self.user.get_username() if self.user else "node-admin"

    def allows(self, scope: str) -> bool:
        """Whether the credential carries `scope` or one above it."""
        return any(_RANK[held] >= _RANK[scope] for held in self.scopes if held in _RANK)

    def require(self, scope: str, what: str) -> None:
        """Refuse `what` (say "POST /containers/create") unless the credential has `scope`."""
        if not self.allows(scope):
            held = ", ".join(s for s in AccessToken.SCOPES if s in self.scopes) or "none"
            raise MissingScope(
                f"{what} needs a token with the {scope!r} scope; this token has: {held}"
            )

    def audit_detail(self) -> dict[str, str]:
        """How this actor came in, for an audit entry."""
        if self.token is not None:
            return {"via": f"{VIA_TOKEN} {self.token.name}"}
        return {"via": self.via}


NODE_ADMIN = Actor(user=None, admin=True, via=VIA_SOCKET)


def actor_for(user: AbstractBaseUser, token: AccessToken | None = None, via: str = "") -> Actor:
    """The actor of a signed-in user, limited to `token`'s scopes when they used one.

    Administrator powers need both a superuser and a credential that carries the admin
    scope: a superuser's read-only token for a CI job reads only what it could as anyone.
    """
    scopes = frozenset(token.scopes) & ALL_SCOPES if token is not None else ALL_SCOPES
    return Actor(
        user=user,
        admin=bool(user.is_active and user.is_superuser and ADMIN in scopes),
        scopes=scopes,
        token=token,
        via=via or (VIA_TOKEN if token is not None else VIA_SESSION),
    )


def session_actor(user: AbstractBaseUser) -> Actor | None:
    """The actor of a dashboard session (pages and websockets); None when signed out."""
    if user is None or not user.is_authenticated:
        return None
    return actor_for(user, via=VIA_SESSION)


_acting: contextvars.ContextVar[Actor | None] = contextvars.ContextVar(
    "dockyard_actor", default=None
)


@contextlib.contextmanager
def acting(actor: Actor | None) -> Iterator[None]:
    """Make `actor` the one `current_actor()` answers within this block (and its threads)."""
    reset = _acting.set(actor)
    try:
        yield
    finally:
        _acting.reset(reset)


def current_actor() -> Actor | None:
    return _acting.get()
