"""`docker update`: new limits applied to a running container and kept for its next starts,
and a new restart policy."""

from django.conf import settings
from django.db import transaction

from .. import tasks
from ..api.schemas import ContainerUpdate
from ..errors import BadRequest
from ..models import Container
from ..nodes import run_on_node
from ..specs import pids_limit
from .access import Actor, check_host_config
from .containers import emit
from .restart_policies import check_restart_policy

# Docker's update body key -> the ContainerSpec field the runtime keeps it in.
_UPDATED_LIMITS = {
    "Memory": "memory",
    "MemorySwap": "memory_swap",
    "CpuShares": "cpu_shares",
    "CpuQuota": "cpu_quota",
    "CpuPeriod": "cpu_period",
    "NanoCpus": "nano_cpus",
}


def _updated_host(c: Container, body: ContainerUpdate) -> dict:
    """The container's HostConfig with the update's changes; Docker's rules on conflicts."""
    host = dict(c.host_config)
    asked = body.model_dump(include=set(_UPDATED_LIMITS))
    if asked["NanoCpus"] and (host.get("CpuQuota") or asked["CpuQuota"]):
        raise BadRequest(
            "Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set"
        )
    if asked["CpuQuota"] and host.get("NanoCpus"):
        raise BadRequest(
            "Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set"
        )
    swap = asked["MemorySwap"] or host.get("MemorySwap") or 0
    if asked["Memory"] and not asked["MemorySwap"] and 0 < swap < asked["Memory"]:
        raise BadRequest(
            "Memory limit should be smaller than already set memoryswap limit, update the "
            "memoryswap at the same time"
        )
    host.update({key: value for key, value in asked.items() if value})
    if body.PidsLimit is not None:
        # In an update 0 lifts the limit, as -1 does; null leaves it alone.
        host["PidsLimit"] = body.PidsLimit if body.PidsLimit > 0 else -1
    if body.RestartPolicy is not None and body.RestartPolicy.Name:
        if host.get("AutoRemove"):
            raise BadRequest(
                "Restart policy cannot be updated because AutoRemove is enabled for the container"
            )
        host["RestartPolicy"] = body.RestartPolicy.model_dump(include={"Name", "MaximumRetryCount"})
    check_restart_policy(host)
    return host


def do_update(actor: Actor, c: Container, body: ContainerUpdate) -> list[str]:
    """`docker update`: limits applied to the running cgroup and kept for later starts, and
    the restart policy. Answers Docker's warnings (none)."""
    host = _updated_host(c, body)
    # The same gate as at create: a non-admin cannot lift or raise the pids limit.
    check_host_config(actor, host)
    changes = {
        field: host.get(key) or 0
        for key, field in _UPDATED_LIMITS.items()
        if (host.get(key) or 0) != (c.host_config.get(key) or 0)
    }
    if host.get("PidsLimit") != c.host_config.get("PidsLimit"):
        changes["pids_limit"] = pids_limit(host, settings.DOCKYARD_DEFAULT_PIDS_LIMIT)
    if changes:
        run_on_node(c.node, tasks.update_container, c.id, changes)
    with transaction.atomic():
        fresh = Container.objects.select_for_update().get(id=c.id)
        fresh.host_config = host
        fresh.save(update_fields=["host_config"])
        emit(fresh, "update")
    c.host_config = host
    return []
