"""What happens to a down node's containers: nothing, unless their owner opted in.

A node that stops heartbeating may still run its containers (a network partition looks the
same as a crash from here), so starting them elsewhere could run two copies. Only containers
with a restart policy and the label `dockyard.reschedule=on-node-failure` are recreated on
another node, with the same name and configuration; the old one's row goes, so when its node
comes back the agent's reconciler finds it unknown there and removes it: no duplicate.
"""

import logging

from accounts.actors import NODE_ADMIN, actor_for

from ..api.schemas import ContainerCreate
from ..errors import ApiError
from ..models import Container
from .containers import do_create_container, do_start
from .nodes import choose_node, down_node_ids
from .nodes_images import ensure_image

log = logging.getLogger(__name__)
RESCHEDULE_LABEL = "dockyard.reschedule"
ON_NODE_FAILURE = "on-node-failure"


def wants_rescheduling(c: Container) -> bool:
    labels = c.config.get("Labels") or {}
    policy = (c.host_config.get("RestartPolicy") or {}).get("Name") or "no"
    return (
        labels.get(RESCHEDULE_LABEL) == ON_NODE_FAILURE and policy != "no" and not c.stopped_by_user
    )


def do_reschedule(c: Container) -> Container:
    """Recreate `c` on another node and start it there; the old row goes."""
    actor = actor_for(c.owner) if c.owner is not None else NODE_ADMIN
    body = ContainerCreate.model_validate({**c.config, "HostConfig": c.host_config})
    labels = {k: v for k, v in (body.Labels or {}).items() if k != "dockyard.node"}
    node = choose_node(labels, body.Env or [], c.host_config)
    ensure_image(actor, node, body.Image)
    Container.objects.filter(id=c.id).delete()
    moved = do_create_container(actor, node, body, c.name)
    return do_start(moved)


def reschedule_from_down_nodes() -> list[str]:
    """Move what opted in off the nodes that are down now; answers the new ids."""
    moved = []
    down = down_node_ids()
    if not down:
        return moved
    for c in Container.objects.filter(node_id__in=down).select_related("owner", "node"):
        if not wants_rescheduling(c):
            continue
        try:
            moved.append(do_reschedule(c).id)
            log.warning("container %s moved off down node %s", c.name, c.node.name)
        except ApiError as e:
            log.warning("cannot move %s off down node %s: %s", c.name, c.node.name, e.message)
    return moved
