"""What happens when a container's process ends: record it, then remove or restart."""

import logging
import time
from dataclasses import asdict

from runtime.containers import lifecycle
from runtime.errors import RuntimeFailure

from ..errors import ApiError
from ..models import Container
from ..services.containers import do_remove, do_start, record_exit
from ..tasks.base import node_paths

log = logging.getLogger(__name__)
START_RECORD_WAIT = 5.0


def record(cid: str) -> Container | None:
    """Record an exit conmon reported; answers the container if it is no longer running."""
    c = Container.objects.select_related("node").filter(id=cid).first()
    if c is None:
        return None
    try:
        state = lifecycle.refresh(node_paths(), cid)
    except RuntimeFailure as e:
        log.warning("cannot read the exit of %s: %s", cid[:12], e)
        return None
    if state.status not in ("exited", "dead"):
        return None
    c = _once_its_start_is_recorded(c, state.started_at)
    if c is None:
        return None
    record_exit(c, asdict(state))
    return c


def _once_its_start_is_recorded(c: Container, started_at: str) -> Container | None:
    """The row, once it knows of the start this exit ends.

    A container can end before the start that ran it has written its row; recording the
    exit first would let that write bring it back to life, and no waiter would hear of the
    exit. That write follows within milliseconds; a start that failed to write at all is
    waited for only START_RECORD_WAIT seconds.
    """
    deadline = time.monotonic() + START_RECORD_WAIT
    while c.started_at != started_at and time.monotonic() < deadline:
        time.sleep(0.01)
        c = Container.objects.select_related("node").filter(id=c.id).first()
        if c is None:
            return None
    return c


def after_exit(c: Container) -> None:
    """Docker's --rm and restart policies."""
    try:
        if c.host_config.get("AutoRemove"):
            do_remove(c, force=True)
            return
        if should_restart(c):
            c.restart_count += 1
            c.save(update_fields=["restart_count"])
            do_start(c)
    except ApiError as e:
        log.warning("after the exit of %s: %s", c.id[:12], e.message)


def should_restart(c: Container) -> bool:
    policy = (c.host_config.get("RestartPolicy") or {}).get("Name") or "no"
    if policy == "always":
        return not c.stopped_by_user
    if policy == "unless-stopped":
        return not c.stopped_by_user
    if policy == "on-failure":
        limit = (c.host_config.get("RestartPolicy") or {}).get("MaximumRetryCount") or 0
        return c.exit_code != 0 and (limit == 0 or c.restart_count < limit)
    return False
