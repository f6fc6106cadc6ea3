"""Who is asking, and what they may see and do."""

from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Q, QuerySet

from ..errors import Forbidden
from ..models import Container
from ..specs import seccomp_confined


@dataclass(frozen=True)
class Actor:
    user: AbstractBaseUser | None
    admin: bool

    @property
    def label(self) -> str:
        return self.user.get_username() if self.user else "node-admin"


NODE_ADMIN = Actor(user=None, admin=True)


def visible_containers(actor: Actor) -> QuerySet[Container]:
    qs = Container.objects.select_related("node", "owner")
    if actor.admin:
        return qs
    return qs.filter(Q(owner=actor.user) | Q(owner__in=teammates(actor.user)))


def teammates(user) -> QuerySet:
    from django.contrib.auth import get_user_model

    users = get_user_model().objects
    try:
        from accounts.models import Membership
    except ImportError:
        return users.none()
    teams = Membership.objects.filter(user=user).values("team")
    return users.filter(memberships__team__in=teams).distinct()


def check_host_config(actor: Actor, host: dict) -> None:
    """Non-admins cannot reach past their containers into the host."""
    if actor.admin:
        return
    if host.get("Privileged"):
        raise Forbidden("privileged containers are for administrators")
    if any(b.startswith("/") for b in host.get("Binds") or []):
        raise Forbidden("host bind mounts are for administrators")
    if host.get("CapAdd") or host.get("Devices"):
        raise Forbidden("added capabilities and devices are for administrators")
    if not seccomp_confined(host):
        raise Forbidden("seccomp=unconfined is for administrators")
    for mode in ("PidMode", "IpcMode", "UTSMode", "NetworkMode"):
        if host.get(mode) == "host":
            raise Forbidden(f"{mode}=host is for administrators")
