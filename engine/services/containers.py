"""Container use cases. Every change goes to the runtime first, then to the ORM."""

import contextlib
import re
import secrets

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from .. import tasks
from ..api.schemas import ContainerCreate
from ..errors import ApiError, BadRequest, Conflict, NotFound
from ..events import make_event, publish
from ..models import Container, Node
from ..nodes import run_on_node
from ..specs import container_config, runtime_spec
from . import volumes
from .access import Actor, check_host_config, containers_named, visible_containers
from .health import check_on_failure_label, initial_health
from .images import resolve_image
from .links import check_links, follow_rename, link_hosts, links_env, links_of
from .networks import (
    NetworkChoice,
    announce,
    announce_network,
    choose_networks,
    join,
    network_plan,
    record_network,
    save_attachments,
    spanning,
)
from .restart_policies import check_restart_policy

_NAME = re.compile(r"^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$")
_ADJECTIVES = ["brave", "calm", "eager", "fond", "keen", "proud", "quiet", "swift", "wise"]
_NOUNS = ["anchor", "buoy", "crane", "dock", "harbor", "keel", "mast", "pier", "quay", "sail"]
# The one OCI runtime nodes run containers with (the runtime's start path speaks crun's).
OCI_RUNTIME = "crun"
STATE_FIELDS = ("status", "pid", "exit_code", "oom_killed", "started_at", "finished_at", "error")


def resolve_container(actor: Actor, ref: str) -> Container:
    name = ref.removeprefix("/")
    # One query for both, as every request names its container: a full ID wins over a name.
    candidates = containers_named(actor, ref, name)
    found = next((c for c in candidates if c.id == ref), None)
    found = found or next((c for c in candidates if c.name == name), None)
    if found is None and len(ref) >= 1 and re.fullmatch(r"[0-9a-f]+", ref):
        matches = list(visible_containers(actor).filter(id__startswith=ref)[:2])
        if len(matches) == 1:
            found = matches[0]
    if found is None:
        raise NotFound(f"No such container: {ref}")
    return found


def _new_name(node: Node) -> str:
    while True:
        name = f"{secrets.choice(_ADJECTIVES)}_{secrets.choice(_NOUNS)}{secrets.randbelow(100)}"
        if not Container.objects.filter(node=node, name=name).exists():
            return name


def _attributes(c: Container, **extra) -> dict:
    return {"image": c.image_ref, "name": c.name, **(c.config.get("Labels") or {}), **extra}


def emit(c: Container, action: str, **extra) -> None:
    publish(make_event("container", action, c.id, _attributes(c, **extra)))


def apply_state(c: Container, state: dict) -> None:
    for field in STATE_FIELDS:
        if field in state and state[field] is not None:
            setattr(c, field, state[field])


def do_create_container(actor: Actor, node: Node, body: ContainerCreate, name: str) -> Container:
    if name and not _NAME.match(name):
        raise BadRequest(
            f"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        )
    name = name.removeprefix("/") if name else _new_name(node)
    clash = Container.objects.filter(node=node, name=name).first()
    if clash:
        raise Conflict(
            f'Conflict. The container name "/{name}" is already in use by container '
            f'"{clash.id}". You have to remove (or rename) that container to be able to reuse '
            "that name."
        )
    host = body.HostConfig.model_dump(exclude_none=False)
    if host.get("Runtime") not in ("", OCI_RUNTIME):
        raise BadRequest(f"unknown or invalid runtime name: {host['Runtime']}")
    check_host_config(actor, host)
    image = resolve_image(actor, node, body.Image)
    networks = choose_networks(actor, node, host, body.NetworkingConfig, resolve_container)
    mac = requested_mac(body, networks)
    host["Links"] = check_links(actor, node, host, name) or None
    cid = secrets.token_hex(32)
    config = container_config(body, image.config, cid)
    if mac:
        config["MacAddress"] = mac
    check_on_failure_label(config.get("Labels") or {})
    check_restart_policy(host)
    image_volumes = (image.config.get("config") or {}).get("Volumes") or {}
    plan = volumes.plan_mounts(
        actor, node, host, {**image_volumes, **(body.Volumes or {})}, resolve_container
    )
    spec = runtime_spec(config, host, settings.DOCKYARD_DEFAULT_PIDS_LIMIT)
    spec.update(binds=plan.binds, mounts=plan.runtime, tmpfs=plan.tmpfs)
    new_volumes = volumes.claim_volumes(actor, node, plan)
    try:
        state = run_on_node(
            node, tasks.create_container, cid, image.image_id, spec, networks.runtime()
        )
    except BaseException:
        volumes.release(new_volumes)
        raise
    c = Container(
        id=cid,
        name=name,
        node=node,
        owner=actor.user,
        image_id=image.image_id,
        image_ref=body.Image,
        config=config,
        host_config=host,
        mounts=plan.shown,
        created=timezone.now(),
    )
    apply_state(c, state)
    try:
        with transaction.atomic():
            c.save(force_insert=True)
            save_attachments(c, networks)
            volumes.record_mounts(c, plan)
            emit(c, "create")
    except IntegrityError:
        run_on_node(node, tasks.remove_container, cid, True)
        volumes.release(new_volumes)
        raise Conflict(f'Conflict. The container name "/{name}" is already in use.') from None
    return c


_MAC = re.compile(r"^[0-9a-f]{2}([:-])[0-9a-f]{2}(\1[0-9a-f]{2}){4}$")


def _check_mac(text: str) -> str:
    """An Ethernet address an interface can have, in Docker's colon form; a multicast one (the
    kernel refuses it to a veth) or all zeros is no address for a container."""
    value = text.strip().lower()
    if not _MAC.match(value):
        raise BadRequest(f"invalid MAC address {text}")
    value = value.replace("-", ":")
    if int(value[:2], 16) & 1 or value == "00:00:00:00:00:00":
        raise BadRequest(f"invalid MAC address {text}: not a unicast address")
    return value


def requested_mac(body: ContainerCreate, networks: NetworkChoice) -> str:
    """The MAC asked for the container's first network: Config.MacAddress (before API 1.44)
    or that network's endpoint setting (since). Other networks get the kernel's choice."""
    endpoints = (body.NetworkingConfig.EndpointsConfig if body.NetworkingConfig else None) or {}
    primary = networks.attachments[0].network if networks.attachments else None
    asked = body.MacAddress
    for key, endpoint in endpoints.items():
        if endpoint is None or not endpoint.MacAddress:
            continue
        if primary is None or key not in (primary.name, primary.id, "default"):
            raise BadRequest(
                f"a MAC address can be set only for the container's first network, not for {key}"
            )
        if asked and _check_mac(asked) != _check_mac(endpoint.MacAddress):
            raise BadRequest(
                "the container-wide MAC address must match the endpoint-specific MAC address "
                "for the main network, or be left empty"
            )
        asked = endpoint.MacAddress
    if not asked:
        return ""
    if primary is None:
        raise BadRequest(f"conflicting options: mac-address and the network mode {networks.mode}")
    return _check_mac(asked)


def do_start(c: Container, by_policy: bool = False) -> Container:
    """Start `c`; a start the user asks for (not `by_policy`) counts restarts from 0 again,
    as Docker's does."""
    if c.status == Container.Status.PAUSED:
        raise Conflict(f"cannot start a paused container {c.id[:12]}, try unpause instead")
    if c.status == Container.Status.RUNNING:
        raise NotModifiedStart()
    try:
        result = _start_on_node(c)
    except ApiError:
        if c.host_config.get("AutoRemove"):
            # Docker removes a --rm container whose start failed: the CLI waits for that
            # removal and would otherwise hang after printing the error.
            with contextlib.suppress(ApiError):
                do_remove(c, force=True, remove_volumes=True)
        raise
    apply_state(c, result["state"])
    c.start_count += 1
    c.log_start_offset = result["log_offset"]
    c.stopped_by_user = False
    c.health = initial_health(c.config)
    if not by_policy:
        c.restart_count = 0
    started = ["start_count", "log_start_offset", "stopped_by_user", "health", "restart_count"]
    with transaction.atomic():
        # Only what a start changes: a `docker update` made while the node started it (as a
        # restart policy's start can be) must not be written back over.
        c.save(update_fields=[*STATE_FIELDS, *started])
        record_network(c, result["network"])
        emit(c, "start", log_offset=str(result["log_offset"]), start=str(c.start_count))
    announce(c)
    return c


def _start_on_node(c: Container) -> dict:
    links = links_of(c)
    join(c)
    plan = network_plan(c)
    if links:
        plan["extra_hosts"] = [*plan.get("extra_hosts", []), *link_hosts(links)]
    if c.config.get("MacAddress") and plan.get("networks"):
        plan["networks"][0]["mac"] = c.config["MacAddress"]
    env = links_env(c, links) if links else None
    return run_on_node(c.node, tasks.start_container, c.id, plan, env)


class NotModifiedStart(Exception):
    """A start of a running container: Docker answers 304 and does nothing."""


def _stop_timeout(c: Container, timeout: int | None) -> int:
    if timeout is not None:
        return timeout
    configured = c.config.get("StopTimeout")
    return 10 if configured is None else configured


def do_stop(c: Container, timeout: int | None = None, signal: str | None = None) -> bool:
    """Returns False when it was not running (Docker's 304)."""
    if not c.running:
        return False
    c.stopped_by_user = True
    c.save(update_fields=["stopped_by_user"])
    t = _stop_timeout(c, timeout)
    state = run_on_node(c.node, tasks.stop_container, c.id, t, signal, timeout=t + 30)
    record_exit(c, state)
    announce(c)
    return True


def record_exit(c: Container, state: dict) -> None:
    """The agent also records exits; whoever comes first writes, the other finds it done."""
    with transaction.atomic():
        fresh = Container.objects.select_for_update().filter(id=c.id).first()
        if fresh is None:
            return
        was_running = fresh.running
        apply_state(fresh, state)
        fresh.save()
        if was_running and not fresh.running:
            emit(fresh, "die", exitCode=str(fresh.exit_code))
    apply_state(c, state)


def do_kill(c: Container, signal: str = "SIGKILL") -> None:
    if not c.running:
        raise Conflict(f"Cannot kill container: {c.id}: container {c.id} is not running")
    if signal in ("SIGKILL", "KILL", "9"):
        c.stopped_by_user = True
        c.save(update_fields=["stopped_by_user"])
    run_on_node(c.node, tasks.kill_container, c.id, signal)
    emit(c, "kill", signal=signal)


def do_restart(c: Container, timeout: int | None = None, signal: str | None = None) -> Container:
    do_stop(c, timeout, signal)
    c.refresh_from_db()
    return do_start(c)


def do_pause(c: Container) -> None:
    if c.status != Container.Status.RUNNING:
        raise Conflict(f"Container {c.id} is not running")
    apply_state(c, run_on_node(c.node, tasks.pause_container, c.id))
    with transaction.atomic():
        c.save()
        emit(c, "pause")


def do_unpause(c: Container) -> None:
    if c.status != Container.Status.PAUSED:
        raise Conflict(f"Container {c.id} is not paused")
    apply_state(c, run_on_node(c.node, tasks.unpause_container, c.id))
    with transaction.atomic():
        c.save()
        emit(c, "unpause")


def do_remove(c: Container, force: bool = False, remove_volumes: bool = False) -> None:
    """`remove_volumes` is `docker rm -v`: the container's anonymous volumes go too."""
    if c.running and not force:
        verb = "paused" if c.status == Container.Status.PAUSED else "running"
        raise Conflict(
            f'cannot remove container "/{c.name}": container is {verb}: stop the container '
            "before removing or force remove"
        )
    run_on_node(c.node, tasks.remove_container, c.id, force)
    used = [m["Name"] for m in c.mounts or [] if m.get("Type") == "volume"]
    nets = spanning(c)
    with transaction.atomic():
        deleted, _ = Container.objects.filter(id=c.id).delete()
        if deleted:
            emit(c, "destroy")
    for net in nets:
        announce_network(net)
    if remove_volumes:
        volumes.remove_anonymous(c.id, c.node, used)


def do_rename(c: Container, new_name: str) -> None:
    if not new_name or not _NAME.match(new_name):
        raise BadRequest(
            f"Invalid container name ({new_name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        )
    new_name = new_name.removeprefix("/")
    if Container.objects.filter(node=c.node, name=new_name).exclude(id=c.id).exists():
        raise Conflict(f'Conflict. The container name "/{new_name}" is already in use.')
    old = c.name
    c.name = new_name
    with transaction.atomic():
        c.save(update_fields=["name"])
        follow_rename(c, old, new_name)
        emit(c, "rename", oldName=f"/{old}")


def do_resize(c: Container, height: int, width: int) -> None:
    if not c.running:
        raise Conflict(f"Container {c.id} is not running")
    run_on_node(c.node, tasks.resize_container, c.id, height, width)


def do_prune(actor: Actor) -> tuple[list[str], int]:
    removed = []
    for c in visible_containers(actor).filter(status__in=["exited", "created", "dead"]):
        do_remove(c)
        removed.append(c.id)
    return removed, 0
