"""Use cases for teams and personal access tokens, and checking credentials."""

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from dockyard.prepared import PreparedLookup

from .errors import InvalidName, InvalidScope, NameTaken
from .models import AccessToken, Membership, Team, namespace_validator

# Namespaces no team may take: `library/` holds the platform's base images.
RESERVED_NAMES = frozenset({"library"})
TOKEN_PREFIX = "dyp_"
_KEY_CHARS = 12
# Writing last_used on every request would turn each pull into a database write.
_LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class Principal:
    """Who made a request, and the personal access token they used, if any."""

    user: AbstractBaseUser
    token: AccessToken | None = None

    @property
    def scopes(self) -> frozenset[str]:
        """What the credential may do: a password may do all the user may do."""
        if self.token is None:
            return frozenset(AccessToken.SCOPES)
        return frozenset(self.token.scopes)


def do_create_team(name: str, creator: AbstractBaseUser | None = None) -> Team:
    """Create a team; its creator, if given, becomes an admin member."""
    try:
        namespace_validator(name)
        if len(name) > Team._meta.get_field("name").max_length:
            raise ValidationError("too long")
    except ValidationError:
        raise InvalidName(
            f"invalid team name {name!r}: use up to 64 lowercase letters and digits, . _ - between"
        ) from None
    if name in RESERVED_NAMES or get_user_model().objects.filter(username=name).exists():
        raise NameTaken(f"the name {name!r} is already in use")
    try:
        with transaction.atomic():
            team = Team.objects.create(name=name)
            if creator is not None:
                Membership.objects.create(team=team, user=creator, role=Membership.Role.ADMIN)
    except IntegrityError:
        raise NameTaken(f"the name {name!r} is already in use") from None
    return team


def do_add_member(team: Team, user: AbstractBaseUser, role: str) -> Membership:
    """Add a user to a team, or change the role they already have."""
    if role not in Membership.Role.values:
        raise InvalidName(f"invalid role {role!r}: use read, write or admin")
    membership, _ = Membership.objects.update_or_create(
        team=team, user=user, defaults={"role": role}
    )
    return membership


def do_remove_member(team: Team, user: AbstractBaseUser) -> None:
    Membership.objects.filter(team=team, user=user).delete()


def _hash(raw: str) -> str:
    # The secret carries 256 random bits, so a fast hash is enough: there is nothing to
    # brute-force the way there is with a password.
    return hashlib.sha256(raw.encode()).hexdigest()


def do_create_token(
    user: AbstractBaseUser,
    name: str,
    scopes: list[str],
    expires: datetime | None = None,
) -> tuple[AccessToken, str]:
    """Create a personal access token; the raw secret is returned once and never stored."""
    if not name or len(name) > 100:
        raise InvalidName("a token needs a name of at most 100 characters")
    unknown = sorted(set(scopes) - set(AccessToken.SCOPES))
    if unknown or not scopes:
        raise InvalidScope(f"token scopes must be among read, write, admin, got {scopes!r}")
    key = secrets.token_hex(_KEY_CHARS // 2)
    raw = f"{TOKEN_PREFIX}{key}{secrets.token_urlsafe(32)}"
    token = AccessToken.objects.create(
        user=user,
        name=name,
        key=key,
        secret_hash=_hash(raw),
        scopes=sorted(set(scopes), key=AccessToken.SCOPES.index),
        expires=expires,
    )
    return token, raw


def do_revoke_token(token: AccessToken) -> None:
    AccessToken.objects.filter(pk=token.pk).update(revoked=True)
    token.revoked = True


def looks_like_token(raw: str) -> bool:
    return raw.startswith(TOKEN_PREFIX) and len(raw) > len(TOKEN_PREFIX) + _KEY_CHARS


def check_secret(raw: str) -> Principal | None:
    """The principal a raw personal access token stands for, if it is valid now."""
    if not looks_like_token(raw):
        return None
    key = raw[len(TOKEN_PREFIX) : len(TOKEN_PREFIX) + _KEY_CHARS]
    token = AccessToken.objects.select_related("user").filter(key=key).first()
    if token is None or not hmac.compare_digest(token.secret_hash, _hash(raw)):
        return None
    now = timezone.now()
    if not token.is_usable(now) or not token.user.is_active:
        return None
    if token.last_used is None or now - token.last_used > _LAST_USED_RESOLUTION:
        AccessToken.objects.filter(pk=token.pk).update(last_used=now)
        token.last_used = now
    return Principal(user=token.user, token=token)


def check_basic(username: str, password_or_token: str) -> Principal | None:
    """The principal behind a user name and either their password or one of their tokens."""
    if looks_like_token(password_or_token):
        principal = check_secret(password_or_token)
        if principal is not None and principal.user.get_username() == username:
            return principal
        return None
    user = _recently_verified(username, password_or_token)
    if user is None:
        user = authenticate(username=username, password=password_or_token)
        if user is None or not user.is_active:
            return None
        _remember_verified(user, password_or_token)
    return Principal(user=user)


# Registry clients present the password again for every token they fetch (docker, skopeo and
# podman log in once, then send Basic credentials per push or pull), and one PBKDF2 check
# costs about 0.3 s. A password verified within the last minute is accepted without hashing
# it again. The key is an HMAC over the stored hash too, so a password change ends it at once;
# only HMACs, never passwords, are kept.
VERIFIED_FOR = 60.0
_verified: dict[str, float] = {}


def _credential_key(user: AbstractBaseUser, password: str) -> str:
    material = f"{user.pk}\0{user.password}\0{password}".encode()
    return hmac.new(settings.SECRET_KEY.encode(), material, hashlib.sha256).hexdigest()


_ACTIVE_USER_NAMED = PreparedLookup(
    lambda username: get_user_model().objects.filter(username=username, is_active=True),
    username="\0username",
)


def _recently_verified(username: str, password: str) -> AbstractBaseUser | None:
    user = _ACTIVE_USER_NAMED.first(username=username)
    if user is None:
        return None
    expires = _verified.get(_credential_key(user, password), 0.0)
    return user if expires > time.monotonic() else None


def _remember_verified(user: AbstractBaseUser, password: str) -> None:
    now = time.monotonic()
    if len(_verified) > 10_000:
        for key in [k for k, until in _verified.items() if until <= now]:
            del _verified[key]
    _verified[_credential_key(user, password)] = now + VERIFIED_FOR


def authenticate_secret(raw: str) -> AbstractBaseUser | None:
    principal = check_secret(raw)
    return principal.user if principal else None


def authenticate_basic(username: str, password_or_token: str) -> AbstractBaseUser | None:
    principal = check_basic(username, password_or_token)
    return principal.user if principal else None


def is_token_active(token_id: int) -> bool:
    """Whether a token is still usable; short-lived credentials derived from it check this."""
    token = AccessToken.objects.select_related("user").filter(pk=token_id).first()
    return token is not None and token.is_usable() and token.user.is_active
