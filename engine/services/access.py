"""What an actor may see and do among the engine's objects.

Who the actor is (user, administrator or not, token scopes) is decided in accounts/; this
module applies it to containers and to the host configuration they ask for.
"""

from django.db.models import Q, QuerySet

from accounts.actors import NODE_ADMIN, Actor
from accounts.services import teammates

from ..errors import Forbidden
from ..models import Container
from ..specs import seccomp_confined

__all__ = ["NODE_ADMIN", "Actor", "check_host_config", "teammates", "visible_containers"]


def visible_containers(actor: Actor) -> QuerySet[Container]:
    qs = Container.objects.select_related("node", "owner")
    if actor.admin:
        return qs
    return qs.filter(Q(owner=actor.user) | Q(owner__in=teammates(actor.user)))


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
