"""What an actor may see and do among the engine's objects.

Who the actor is (user, administrator or not, token scopes) is decided in accounts/; this
module applies it to containers and to the host configuration they ask for.
"""

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db.models import Q, QuerySet

from accounts.actors import NODE_ADMIN, Actor
from accounts.services import teammates
from platformkit.prepared import PreparedLookup

from ..errors import Forbidden
from ..models import Container, Node
from ..specs import seccomp_choice

__all__ = [
    "NODE_ADMIN",
    "Actor",
    "check_host_config",
    "containers_named",
    "teammates",
    "visible_containers",
]


def _visible_to(user: AbstractBaseUser | int) -> Q:
    return Q(owner=user) | Q(owner__in=teammates(user))


def visible_containers(actor: Actor) -> QuerySet[Container]:
    qs = Container.objects.select_related("node", "owner")
    if actor.admin:
        return qs
    return qs.filter(_visible_to(actor.user))


def _id_or_name(ref: str, name: str) -> QuerySet[Container]:
    return Container.objects.filter(Q(id=ref) | Q(name=name)).order_by("pk")


# Every request about a container looks it up by the ID or name the client gave, so the
# lookup is compiled once (see platformkit/prepared.py): with select_related, compiling cost
# more than the two small queries that replace it.
_ID_OR_NAME = PreparedLookup(_id_or_name, ref="\0ref", name="\0name")
_VISIBLE_ID_OR_NAME = PreparedLookup(
    lambda ref, name, user: _id_or_name(ref, name).filter(_visible_to(user)),
    ref="\0ref",
    name="\0name",
    user=-1,
)
_NODE = PreparedLookup(lambda pk: Node.objects.filter(pk=pk), pk=-1)


def containers_named(actor: Actor, ref: str, name: str) -> list[Container]:
    """The containers `actor` may see whose ID is `ref` or whose name is `name` (on any
    node), by ID, each with its node (every request about a container goes to its node; few
    look at its owner, which is fetched when asked for)."""
    if actor.admin:
        found = _ID_OR_NAME.all(ref=ref, name=name)
    else:
        found = _VISIBLE_ID_OR_NAME.all(ref=ref, name=name, user=actor.user.pk)
    for c in found:
        c.node = _NODE.first(pk=c.node_id)
    return found


def check_host_config(actor: Actor, host: dict) -> None:
    """Non-admins cannot reach past their containers into the host."""
    if actor.admin:
        return
    if host.get("Privileged"):
        raise Forbidden("privileged containers are for administrators")
    if any(b.startswith("/") for b in host.get("Binds") or []):
        raise Forbidden("host bind mounts are for administrators")
    # `--mount type=bind` reaches the host as `-v /path:...` does; type=volume and tmpfs
    # stay in what the node keeps for the user.
    if any((m.get("Type") or "volume") == "bind" for m in host.get("Mounts") or []):
        raise Forbidden("host bind mounts are for administrators")
    if host.get("CapAdd") or host.get("Devices"):
        raise Forbidden("added capabilities and devices are for administrators")
    seccomp = seccomp_choice(host)
    if seccomp.unconfined:
        raise Forbidden("seccomp=unconfined is for administrators")
    if seccomp.profile:
        # A profile of one's own can allow what the default refuses (clone into new
        # namespaces, keyctl, bpf), and telling a stricter one from a looser one is no
        # simpler than writing it.
        raise Forbidden("custom seccomp profiles are for administrators")
    _check_pids_limit(host.get("PidsLimit") or 0)
    for mode in ("PidMode", "IpcMode", "UTSMode", "NetworkMode"):
        if host.get(mode) == "host":
            raise Forbidden(f"{mode}=host is for administrators")


def _check_pids_limit(asked: int) -> None:
    """A tenant's fork bomb must stop at the platform's default limit: a non-admin may ask
    for a lower one, never for none or a higher one."""
    default = settings.DOCKYARD_DEFAULT_PIDS_LIMIT
    if asked < 0 and default > 0:
        raise Forbidden("an unlimited pids limit is for administrators")
    if default > 0 and asked > default:
        raise Forbidden(f"a pids limit above {default} is for administrators")
