"""Volumes and a container's mounts: who sees a volume, its row and node directory made and
removed, and what a container's create mounts, claims and records and its removal takes
back. The `docker volume` commands are in volume_commands.

Volumes live on a node with the `local` driver. Every volume has an owner: a user sees and
mounts their own and their teammates', an administrator all of them; to anyone else a
volume does not exist. Names are unique on a node, so a name someone else holds is refused
rather than shared.
"""

import posixpath
import re
import secrets
from dataclasses import dataclass, field

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from .. import tasks
from ..errors import BadRequest, Conflict, NotFound
from ..events import make_event, publish
from ..models import Container, Node, Volume, VolumeMount
from ..nodes import run_on_node
from .access import NODE_ADMIN, Actor, teammates

# Docker's rule for volume names.
_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+$")
DRIVER = "local"


def visible_volumes(actor: Actor) -> QuerySet[Volume]:
    qs = Volume.objects.select_related("node", "owner")
    if actor.admin:
        return qs
    return qs.filter(Q(owner=actor.user) | Q(owner__in=teammates(actor.user)))


def mountpoint(volume_name: str) -> str:
    """Where the node keeps the volume's data (runtime.volumes lays it out the same way)."""
    return str(settings.DOCKYARD_ROOT / "volumes" / volume_name / "_data")


def _emit(volume: Volume, action: str, **extra: str) -> None:
    publish(make_event("volume", action, volume.name, {"driver": volume.driver, **extra}))


def check_name(name: str) -> None:
    if not _NAME.match(name):
        raise BadRequest(
            f'create {name}: "{name}" includes invalid characters for a local volume name, '
            'only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host '
            "directory, use absolute path"
        )


def claim_volume(actor: Actor, node: Node, name: str, labels: dict, anonymous: bool) -> Volume:
    """The volume `name` for `actor`: theirs if it exists and they may see it, else a new
    row. A name held by someone they may not see is a conflict, and tells nothing more."""
    existing = Volume.objects.filter(node=node, name=name).first()
    if existing is not None:
        if visible_volumes(actor).filter(pk=existing.pk).exists():
            return existing
        raise Conflict(f"create {name}: volume name is already in use")
    run_on_node(node, tasks.create_volume, name)
    try:
        with transaction.atomic():
            volume = Volume.objects.create(
                name=name,
                node=node,
                owner=actor.user,
                driver=DRIVER,
                labels=labels,
                anonymous=anonymous,
                created=timezone.now(),
            )
    except IntegrityError:
        raise Conflict(f"create {name}: volume name is already in use") from None
    _emit(volume, "create")
    return volume


def users(volume: Volume) -> list[str]:
    return list(volume.mounts.values_list("container_id", flat=True).distinct())


def do_remove_volume(actor: Actor, volume: Volume, force: bool = False) -> None:
    in_use = users(volume)
    if in_use:
        raise Conflict(f"remove {volume.name}: volume is in use - [{', '.join(in_use)}]")
    run_on_node(volume.node, tasks.remove_volume, volume.name)
    with transaction.atomic():
        Volume.objects.filter(pk=volume.pk).delete()
        _emit(volume, "destroy")


# ---- a container's mounts ----------------------------------------------------------------


@dataclass
class MountPlan:
    """What a container's create asks to mount: the runtime's mounts and tmpfs, the
    volumes it uses, and the Mounts `docker inspect` shows."""

    runtime: list[dict] = field(default_factory=list)
    tmpfs: dict[str, str] = field(default_factory=dict)
    binds: list[str] = field(default_factory=list)
    volumes: list[tuple[str, str, bool]] = field(default_factory=list)
    shown: list[dict] = field(default_factory=list)
    destinations: set[str] = field(default_factory=set)

    def taken(self, destination: str) -> bool:
        return destination in self.destinations

    def add_volume(self, name: str, dst: str, readonly: bool, copy_up: bool, anon: bool) -> None:
        self.destinations.add(dst)
        self.volumes.append((name, dst, anon))
        self.runtime.append(
            {"volume": name, "destination": dst, "readonly": readonly, "copy_up": copy_up}
        )
        self.shown.append(
            {
                "Type": "volume",
                "Name": name,
                "Source": mountpoint(name),
                "Destination": dst,
                "Driver": DRIVER,
                "Mode": "" if anon else "z",
                "RW": not readonly,
                "Propagation": "",
            }
        )

    def add_bind(self, source: str, dst: str, readonly: bool) -> None:
        self.destinations.add(dst)
        self.runtime.append({"source": source, "destination": dst, "readonly": readonly})
        self.shown.append(
            {
                "Type": "bind",
                "Source": source,
                "Destination": dst,
                "Mode": "",
                "RW": not readonly,
                "Propagation": "rprivate",
            }
        )

    def add_tmpfs(self, dst: str, options: str) -> None:
        self.destinations.add(dst)
        self.tmpfs[dst] = options
        self.shown.append(
            {
                "Type": "tmpfs",
                "Source": "",
                "Destination": dst,
                "Mode": options,
                "RW": "ro" not in options.split(","),
                "Propagation": "",
            }
        )


def _destination(path: str) -> str:
    if not path.startswith("/"):
        raise BadRequest(f"invalid mount config: mount path must be absolute: {path}")
    clean = posixpath.normpath(path)
    if clean == "/":
        raise BadRequest("invalid mount config: destination can't be '/'")
    return clean


def _duplicate(dst: str) -> BadRequest:
    return BadRequest(f"Duplicate mount point: {dst}")


def _bind_parts(spec: str) -> tuple[str, str, list[str]]:
    parts = spec.split(":")
    if len(parts) == 1:
        return "", parts[0], []
    if len(parts) in (2, 3):
        return parts[0], parts[1], parts[2].split(",") if len(parts) == 3 else []
    raise BadRequest(f"invalid volume specification: '{spec}'")


def plan_mounts(
    actor: Actor,
    node: Node,
    host: dict,
    volumes: dict | None,
    resolve_container,
) -> MountPlan:
    """Docker's order: HostConfig.Mounts and Binds, then --volumes-from, then --tmpfs, then
    the anonymous volumes of `-v /path` and the image's VOLUME for what is still free."""
    plan = MountPlan()
    for spec in host.get("Binds") or []:
        source, dst, opts = _bind_parts(spec)
        dst = _destination(dst)
        if plan.taken(dst):
            raise _duplicate(dst)
        readonly = "ro" in opts
        if source.startswith("/"):
            plan.destinations.add(dst)
            plan.binds.append(spec)
            plan.shown.append(
                {
                    "Type": "bind",
                    "Source": source,
                    "Destination": dst,
                    "Mode": ",".join(opts),
                    "RW": not readonly,
                    "Propagation": "rprivate",
                }
            )
        elif source:
            check_name(source)
            plan.add_volume(source, dst, readonly, "nocopy" not in opts, anon=False)
        else:
            plan.add_volume(secrets.token_hex(32), dst, readonly, True, anon=True)
    for mount in host.get("Mounts") or []:
        _plan_mount(plan, mount)
    for ref in host.get("VolumesFrom") or []:
        name, _, mode = ref.partition(":")
        if mode not in ("", "ro", "rw"):
            raise BadRequest(f"invalid mode for volumes-from: {mode}")
        source = resolve_container(actor, name)
        for shown in source.mounts:
            dst = shown["Destination"]
            if plan.taken(dst) or shown["Type"] == "tmpfs":
                continue
            readonly = (mode == "ro") or (mode == "" and not shown["RW"])
            if shown["Type"] == "volume":
                plan.add_volume(shown["Name"], dst, readonly, False, anon=False)
                plan.shown[-1]["Mode"] = shown.get("Mode", "")
            else:
                plan.add_bind(shown["Source"], dst, readonly)
    for dst, options in (host.get("Tmpfs") or {}).items():
        dst = _destination(dst)
        if plan.taken(dst):
            raise _duplicate(dst)
        plan.add_tmpfs(dst, options or "")
    for dst in volumes or {}:
        dst = _destination(dst)
        if not plan.taken(dst):
            plan.add_volume(secrets.token_hex(32), dst, False, True, anon=True)
    return plan


def _plan_mount(plan: MountPlan, mount: dict) -> None:
    kind = mount.get("Type") or "volume"
    dst = _destination(mount.get("Target") or "")
    if plan.taken(dst):
        raise _duplicate(dst)
    readonly = bool(mount.get("ReadOnly"))
    source = mount.get("Source") or ""
    if kind == "volume":
        options = mount.get("VolumeOptions") or {}
        driver = (options.get("DriverConfig") or {}).get("Name") or DRIVER
        if driver != DRIVER:
            raise NotFound(f"error looking up volume plugin {driver}: plugin not found")
        if source:
            check_name(source)
        name = source or secrets.token_hex(32)
        plan.add_volume(name, dst, readonly, not options.get("NoCopy"), anon=not source)
        if options.get("Labels"):
            plan.runtime[-1]["labels"] = options["Labels"]
    elif kind == "bind":
        if not source.startswith("/"):
            raise BadRequest(f"invalid mount config for type \"bind\": invalid source: '{source}'")
        plan.add_bind(posixpath.normpath(source), dst, readonly)
    elif kind == "tmpfs":
        if source:
            raise BadRequest('invalid mount config for type "tmpfs": source must be empty')
        tmpfs = mount.get("TmpfsOptions") or {}
        opts = []
        if tmpfs.get("SizeBytes"):
            opts.append(f"size={int(tmpfs['SizeBytes'])}")
        if tmpfs.get("Mode"):
            opts.append(f"mode={int(tmpfs['Mode']):o}")
        if readonly:
            opts.append("ro")
        plan.add_tmpfs(dst, ",".join(opts))
    else:
        raise BadRequest(f"mount type unknown: {kind!r}")


def claim_volumes(actor: Actor, node: Node, plan: MountPlan) -> list[Volume]:
    """The plan's volumes, made (node-side and as rows) when new; the new anonymous ones are
    returned so a failed create can take them back."""
    made = []
    labels = {m["volume"]: m.get("labels") or {} for m in plan.runtime if m.get("volume")}
    for name, _, anonymous in plan.volumes:
        existed = Volume.objects.filter(node=node, name=name).exists()
        volume = claim_volume(actor, node, name, labels.get(name, {}), anonymous)
        if not existed and anonymous:
            made.append(volume)
    return made


def release(volumes: list[Volume]) -> None:
    for volume in volumes:
        try:
            do_remove_volume(NODE_ADMIN, volume)
        except (Conflict, NotFound):
            continue


def record_mounts(c: Container, plan: MountPlan) -> None:
    """Inside the container's create transaction: which volumes it uses."""
    by_name = {v.name: v for v in Volume.objects.filter(node=c.node, name__in=_names(plan))}
    VolumeMount.objects.bulk_create(
        VolumeMount(container=c, volume=by_name[name], destination=dst)
        for name, dst, _ in plan.volumes
    )


def _names(plan: MountPlan) -> list[str]:
    return [name for name, _, _ in plan.volumes]


def remove_anonymous(c_id: str, node: Node, names: list[str]) -> None:
    """`docker rm -v`: the container's anonymous volumes that nothing else uses go with it
    (whoever could remove the container could remove them, so no further say-so)."""
    for volume in Volume.objects.filter(node=node, name__in=names, anonymous=True):
        if volume.mounts.exclude(container_id=c_id).exists():
            continue
        try:
            do_remove_volume(NODE_ADMIN, volume)
        except Conflict:
            continue
