"""Bearer tokens per Docker's registry token specification, signed with PyJWT.

The registry that verifies a token is the service that issued it, so the tokens are signed
with a key derived from the site's secret (HS256) instead of a certificate chain.
"""

import hmac
import secrets
import time
from dataclasses import dataclass, field

import jwt
from django.conf import settings

SERVICE = "dockyard"
ISSUER = "dockyard-token-service"
DEFAULT_TTL = 300
_ALGORITHM = "HS256"


@dataclass(frozen=True)
class ResourceScope:
    """One `type:name:actions` entry of a token request or a token's access claim."""

    type: str
    name: str
    actions: frozenset[str] = field(default_factory=frozenset)

    def claim(self) -> dict:
        return {"type": self.type, "name": self.name, "actions": sorted(self.actions)}


@dataclass(frozen=True)
class TokenClaims:
    subject: str
    user_id: int | None
    access_token_id: int | None
    access: tuple[ResourceScope, ...]

    def allows(self, type_: str, name: str, action: str) -> bool:
        return any(
            s.type == type_ and s.name == name and (action in s.actions or "*" in s.actions)
            for s in self.access
        )


def parse_scope(raw: str) -> ResourceScope | None:
    """Parse `repository:alice/app:pull,push`; None when it is not of that shape."""
    type_, sep, rest = raw.partition(":")
    name, sep2, actions = rest.rpartition(":")
    if not (sep and sep2 and type_ and name):
        return None
    # A resource class, as in `repository(plugin)`, does not change what may be done.
    type_ = type_.split("(", 1)[0]
    return ResourceScope(type_, name, frozenset(a for a in actions.split(",") if a))


def _key() -> bytes:
    return hmac.new(settings.SECRET_KEY.encode(), b"dockyard.registry.token", "sha256").digest()


def ttl() -> int:
    return int(getattr(settings, "DOCKYARD_REGISTRY_TOKEN_TTL", DEFAULT_TTL))


def issue(
    subject: str,
    user_id: int | None,
    access_token_id: int | None,
    access: list[ResourceScope],
) -> dict:
    """The token endpoint's JSON body for these grants."""
    now = int(time.time())
    lifetime = ttl()
    claims = {
        "iss": ISSUER,
        "sub": subject,
        "aud": SERVICE,
        "iat": now,
        "nbf": now - 1,
        "exp": now + lifetime,
        "jti": secrets.token_hex(16),
        "access": [s.claim() for s in access],
        "uid": user_id,
        "pat": access_token_id,
    }
    token = jwt.encode(claims, _key(), algorithm=_ALGORITHM)
    issued_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
    return {"token": token, "access_token": token, "expires_in": lifetime, "issued_at": issued_at}


def verify(token: str) -> TokenClaims | None:
    """The claims of a token this service issued and that has not expired, else None."""
    try:
        claims = jwt.decode(
            token,
            _key(),
            algorithms=[_ALGORITHM],
            audience=SERVICE,
            issuer=ISSUER,
            options={"require": ["exp", "iat", "sub", "access"]},
        )
    except jwt.PyJWTError:
        return None
    access = []
    for entry in claims.get("access") or []:
        if not isinstance(entry, dict):
            return None
        access.append(
            ResourceScope(
                str(entry.get("type", "")),
                str(entry.get("name", "")),
                frozenset(str(a) for a in entry.get("actions") or []),
            )
        )
    return TokenClaims(
        subject=str(claims["sub"]),
        user_id=claims.get("uid"),
        access_token_id=claims.get("pat"),
        access=tuple(access),
    )
