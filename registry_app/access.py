"""Who is calling /v2/ and what they may do there.

A request carries a bearer token from /auth/token, or `Basic` credentials (a password or a
personal access token) that podman and skopeo fall back to, or nothing. Every refusal of a
client that might do better with a token carries the Bearer challenge that sends it there.
"""

from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.http import HttpRequest

from accounts.actors import VIA_TOKEN, Actor, actor_for
from accounts.auth import client_address, parse_basic
from accounts.errors import TooManyAttempts
from accounts.models import AccessToken
from accounts.services import check_basic, check_secret, is_token_active
from platformkit.prepared import PreparedLookup

from . import tokens
from .errors import RegistryError
from .services.tokens import granted_actions


@dataclass(frozen=True)
class Access:
    """The caller's actor (None: anonymous) and the bearer token's grants, if one was used."""

    actor: Actor | None
    claims: tokens.TokenClaims | None

    @property
    def user(self):
        return self.actor.user if self.actor else None

    @property
    def authenticated(self) -> bool:
        """Whether the request carried any valid credential, an anonymous token included."""
        return self.actor is not None or self.claims is not None

    def may(self, name: str, action: str) -> bool:
        if self.claims is not None:
            return self.claims.allows("repository", name, action)
        return self.actor is not None and action in granted_actions(self.actor, name)

    def may_list_catalog(self) -> bool:
        if self.claims is not None:
            return self.claims.allows("registry", "catalog", "*")
        return self.actor is not None


def realm(request: HttpRequest) -> str:
    return getattr(settings, "DOCKYARD_REGISTRY_TOKEN_REALM", "") or request.build_absolute_uri(
        "/auth/token"
    )


def challenge(request: HttpRequest, scope: str = "", error: str = "") -> dict[str, str]:
    value = f'Bearer realm="{realm(request)}",service="{tokens.SERVICE}"'
    if scope:
        value += f',scope="{scope}"'
    if error:
        value += f',error="{error}"'
    return {"WWW-Authenticate": value}


def _unauthorized(request: HttpRequest, message: str, scope: str = "", error: str = ""):
    return RegistryError("UNAUTHORIZED", message, headers=challenge(request, scope, error))


_ACTIVE_USER = PreparedLookup(
    lambda pk: get_user_model().objects.filter(pk=pk, is_active=True), pk=-1
)


def _actor_of_claims(claims: tokens.TokenClaims) -> Actor | None:
    user = _ACTIVE_USER.first(pk=claims.user_id)
    if user is None or user.get_username() != claims.subject:
        return None
    token = None
    if claims.access_token_id is not None:
        if not is_token_active(claims.access_token_id):
            return None
        token = AccessToken.objects.get(pk=claims.access_token_id)
    return actor_for(user, token, via=VIA_TOKEN)


def too_many_attempts(e: TooManyAttempts) -> RegistryError:
    return RegistryError(
        "TOOMANYREQUESTS",
        str(e),
        {"retry_after": e.retry_after},
        headers={"Retry-After": str(e.retry_after)},
    )


def authenticate(request: HttpRequest) -> Access:
    """The caller's access; raises UNAUTHORIZED for credentials that do not check out."""
    scheme, _, value = request.headers.get("Authorization", "").strip().partition(" ")
    scheme, value = scheme.lower(), value.strip()
    if not scheme:
        return Access(None, None)
    if scheme == "bearer":
        claims = tokens.verify(value)
        if claims is None:
            actor = check_secret(value)
            if actor is None:
                raise _unauthorized(request, "invalid or expired token", error="invalid_token")
            return Access(actor, None)
        if claims.user_id is None:
            return Access(None, claims)
        actor = _actor_of_claims(claims)
        if actor is None:
            raise _unauthorized(request, "token no longer valid", error="invalid_token")
        return Access(actor, claims)
    if scheme == "basic":
        pair = parse_basic(value)
        try:
            actor = check_basic(*pair, address=client_address(request)) if pair else None
        except TooManyAttempts as e:
            raise too_many_attempts(e) from None
        if actor is None:
            raise _unauthorized(request, "invalid username or password")
        return Access(actor, None)
    raise _unauthorized(request, "unsupported authorization scheme")


def require(request: HttpRequest, access: Access, name: str, actions: list[str]) -> None:
    """Refuse unless `access` allows every action in repository `name`.

    Anonymous callers and tokens that merely lack a scope the user holds get 401 and a
    challenge naming the scope; a user who may not do it at all gets 403 DENIED.
    """
    missing = [a for a in actions if not access.may(name, a)]
    if not missing:
        return
    scope = f"repository:{name}:{','.join(actions)}"
    if access.actor is None:
        error = "insufficient_scope" if access.claims else ""
        raise _unauthorized(request, "authentication required", scope, error)
    if access.claims is not None:
        rights = granted_actions(access.actor, name)
        if all(a in rights for a in missing):
            raise _unauthorized(request, "token lacks the scope", scope, "insufficient_scope")
    raise RegistryError(
        "DENIED", "requested access to the resource is denied", {"name": name, "actions": missing}
    )


def require_catalog(request: HttpRequest, access: Access) -> None:
    if not access.may_list_catalog():
        raise _unauthorized(
            request,
            "authentication required",
            "registry:catalog:*",
            "insufficient_scope" if access.claims else "",
        )
