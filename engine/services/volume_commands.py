"""`docker volume` use cases: create, the filters of ls, prune and system df, and finding a
volume by name for inspect and rm."""

import secrets

from .. import tasks
from ..errors import BadRequest, Conflict, NotFound
from ..models import Node, Volume
from ..nodes import run_on_node
from .access import Actor
from .volumes import DRIVER, check_name, claim_volume, do_remove_volume, visible_volumes

_TRUE = ("1", "true", "True")


def resolve_volume(actor: Actor, node: Node, name: str) -> Volume:
    found = visible_volumes(actor).filter(node=node, name=name).first()
    if found is None:
        raise NotFound(f"get {name}: no such volume")
    return found


def do_create_volume(
    actor: Actor,
    node: Node,
    name: str,
    driver: str = DRIVER,
    labels: dict | None = None,
    driver_opts: dict | None = None,
) -> Volume:
    if driver and driver != DRIVER:
        raise NotFound(f"error looking up volume plugin {driver}: plugin not found")
    if driver_opts:
        # The local driver's options mount a device or a network share by a host-side
        # mount(2); a volume here is a plain directory of its node.
        raise BadRequest("create: driver options are not supported by this engine's local driver")
    name = name or secrets.token_hex(32)
    check_name(name)
    return claim_volume(actor, node, name, labels or {}, anonymous=False)


def matches(volume: Volume, filters: dict[str, list[str]]) -> bool:
    """Docker's volume filters: name (substring), label (key or key=value, all must hold),
    driver, dangling (no container uses it)."""

    def label_ok(wanted: str) -> bool:
        key, eq, value = wanted.partition("=")
        return key in volume.labels and (not eq or volume.labels[key] == value)

    checks = {
        "name": lambda v: v in volume.name,
        "driver": lambda v: v == volume.driver,
        "label": label_ok,
        "dangling": lambda v: (v in _TRUE) == (not volume.mounts.exists()),
    }
    for key, values in filters.items():
        if key == "all":
            continue
        check = checks.get(key)
        if check is None:
            raise BadRequest(f"invalid filter '{key}'")
        combine = all if key == "label" else any
        if not combine(check(v) for v in values):
            return False
    return True


def do_prune_volumes(
    actor: Actor, node: Node, filters: dict[str, list[str]]
) -> tuple[list[str], int]:
    """Remove the actor's unused volumes: anonymous ones only unless `all=true` is asked
    (Docker's rule since API 1.42). Returns (names, bytes reclaimed)."""
    every = any(v in _TRUE for v in filters.get("all", []))
    candidates = visible_volumes(actor).filter(node=node, mounts__isnull=True)
    if not every:
        candidates = candidates.filter(anonymous=True)
    doomed = [v for v in candidates if matches(v, {**filters, "dangling": ["true"]})]
    sizes = run_on_node(node, tasks.volume_sizes, [v.name for v in doomed]) if doomed else {}
    removed, reclaimed = [], 0
    for volume in doomed:
        try:
            do_remove_volume(actor, volume)
        except Conflict:
            continue
        removed.append(volume.name)
        reclaimed += sizes.get(volume.name, 0)
    return removed, reclaimed


def disk_usage(actor: Actor, node: Node) -> list[tuple[Volume, int]]:
    """`docker system df`'s volumes: those the actor sees, with the bytes each holds."""
    rows = list(visible_volumes(actor).filter(node=node))
    sizes = run_on_node(node, tasks.volume_sizes, [v.name for v in rows]) if rows else {}
    return [(v, sizes.get(v.name, 0)) for v in rows]
