"""Use cases for teams, invitations and personal access tokens, and checking credentials."""

import hashlib
import hmac
import secrets
import time
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from platformkit.prepared import PreparedLookup

from . import limits
from .actors import VIA_PASSWORD, VIA_TOKEN, Actor, actor_for
from .errors import InvalidName, InvalidScope, NameTaken, NotAllowed, NotFound
from .models import AccessToken, Invitation, Membership, Team, namespace_validator

# Namespaces no team may take: `library/` holds the platform's base images.
RESERVED_NAMES = frozenset({"library"})
TOKEN_PREFIX = "dyp_"
_KEY_CHARS = 12
# Writing last_used on every request would turn each pull into a database write.
_LAST_USED_RESOLUTION = timedelta(minutes=1)


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


def _check_role(role: str) -> None:
    if role not in Membership.Role.values:
        raise InvalidName(f"invalid role {role!r}: use read, write or admin")


def do_add_member(team: Team, user: AbstractBaseUser, role: str) -> Membership:
    """Make `user` a member at once, or change the role they have; asks nobody's consent.

    For site administrators (through `do_invite`, the admin site or the shell) and for role
    changes of people who are members already. Anyone else invites with `do_invite`.
    """
    _check_role(role)
    with transaction.atomic():
        membership, _ = Membership.objects.update_or_create(
            team=team, user=user, defaults={"role": role}
        )
        Invitation.objects.filter(team=team, user=user).delete()
    return membership


def do_remove_member(team: Team, user: AbstractBaseUser) -> None:
    Membership.objects.filter(team=team, user=user).delete()


def teams_of(user: AbstractBaseUser) -> QuerySet[Team]:
    """The teams `user` is a member of; an invitation they have not accepted is not one."""
    return Team.objects.filter(memberships__user=user)


def teammates(user: AbstractBaseUser | int | None) -> QuerySet:
    """Everyone who shares a team with `user`, a user or its pk (themselves included when in
    any team)."""
    users = get_user_model().objects
    if user is None:
        return users.none()
    teams = Membership.objects.filter(user=user).values("team")
    return users.filter(memberships__team__in=teams).distinct()


def is_team_admin(actor: Actor, team: Team) -> bool:
    if actor.admin:
        return True
    return (
        actor.user is not None
        and Membership.objects.filter(
            team=team, user=actor.user, role=Membership.Role.ADMIN
        ).exists()
    )


def visible_team(actor: Actor, name: str) -> Team:
    """A team the actor belongs to (any team for an administrator), else NotFound."""
    team = Team.objects.filter(name=name).first()
    if team is None or not (
        actor.admin or Membership.objects.filter(team=team, user=actor.user).exists()
    ):
        raise NotFound(f"no team named {name!r}")
    return team


def do_invite(
    actor: Actor, team: Team, user: AbstractBaseUser, role: str
) -> Membership | Invitation:
    """Offer `user` membership of `team` with `role`; only the team's admins may.

    Membership lets teammates control each other's containers, so it needs the invited
    user's acceptance (`do_accept_invitation`); until then the invitation grants nothing.
    A site administrator adds members directly, and a member's role changes at once.
    """
    if not is_team_admin(actor, team):
        raise NotAllowed(f"only admins of team {team.name!r} may invite members")
    _check_role(role)
    if actor.admin or Membership.objects.filter(team=team, user=user).exists():
        return do_add_member(team, user, role)
    invitation, _ = Invitation.objects.update_or_create(
        team=team, user=user, defaults={"role": role, "invited_by": actor.user}
    )
    return invitation


def pending_invitations(user: AbstractBaseUser) -> QuerySet[Invitation]:
    return Invitation.objects.filter(user=user).select_related("team", "invited_by")


def _invitation_of(user: AbstractBaseUser, invitation_id: int) -> Invitation:
    invitation = pending_invitations(user).filter(pk=invitation_id).first()
    if invitation is None:
        raise NotFound("no such invitation")
    return invitation


def do_accept_invitation(user: AbstractBaseUser, invitation_id: int) -> Membership:
    """The invited user joins the team with the role they were offered."""
    invitation = _invitation_of(user, invitation_id)
    return do_add_member(invitation.team, user, invitation.role)


def do_decline_invitation(user: AbstractBaseUser, invitation_id: int) -> Invitation:
    invitation = _invitation_of(user, invitation_id)
    invitation.delete()
    return invitation


def do_cancel_invitation(actor: Actor, team: Team, invitation_id: int) -> Invitation:
    """A team admin withdraws an invitation nobody has answered yet."""
    if not is_team_admin(actor, team):
        raise NotAllowed(f"only admins of team {team.name!r} may withdraw invitations")
    invitation = Invitation.objects.filter(team=team, pk=invitation_id).first()
    if invitation is None:
        raise NotFound("no such invitation")
    invitation.delete()
    return invitation


def do_leave_or_remove(actor: Actor, team: Team, user: AbstractBaseUser) -> None:
    """A team admin removes a member, or a member leaves."""
    if actor.user != user and not is_team_admin(actor, team):
        raise NotAllowed(f"only admins of team {team.name!r} may remove members")
    do_remove_member(team, user)


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


def check_secret(raw: str) -> Actor | None:
    """The actor a raw personal access token stands for, if it is valid now."""
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
    return actor_for(token.user, token, via=VIA_TOKEN)


def check_password(
    username: str, password: str, address: str = "", request: HttpRequest | None = None
) -> AbstractBaseUser | None:
    """The active user `username` if `password` is theirs; every entry point's password check.

    Raises TooManyAttempts, before any hashing, once the user name or the client address
    has failed too often (accounts/limits.py).
    """
    limits.check_allowed(username, address)
    user = _recently_verified(username, password)
    if user is not None:
        return user
    user = authenticate(request, username=username, password=password)
    if user is None or not user.is_active:
        limits.record_failure(username, address)
        return None
    limits.forgive(username, address)
    _remember_verified(user, password)
    return user


def check_basic(username: str, password_or_token: str, address: str = "") -> Actor | None:
    """The actor behind a user name and either their password or one of their tokens."""
    if looks_like_token(password_or_token):
        actor = check_secret(password_or_token)
        if actor is not None and actor.user.get_username() == username:
            return actor
        return None
    user = check_password(username, password_or_token, address)
    return actor_for(user, via=VIA_PASSWORD) if user is not None else None


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
    actor = check_secret(raw)
    return actor.user if actor else None


def authenticate_basic(username: str, password_or_token: str) -> AbstractBaseUser | None:
    actor = check_basic(username, password_or_token)
    return actor.user if actor else None


def is_token_active(token_id: int) -> bool:
    """Whether a token is still usable; short-lived credentials derived from it check this."""
    token = AccessToken.objects.select_related("user").filter(pk=token_id).first()
    return token is not None and token.is_usable() and token.user.is_active
