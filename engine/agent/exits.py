"""What happens when a container's process ends: record it, then remove or restart."""

import logging
import time
from dataclasses import asdict

from runtime.containers import lifecycle
from runtime.errors import RuntimeFailure

from ..errors import ApiError
from ..models import Container
from ..services.containers import do_remove, do_start, record_exit
from ..services.health import stamp
from ..tasks.base import node_paths

log = logging.getLogger(__name__)
START_RECORD_WAIT = 5.0
# Docker's restart back-off: 100 ms, doubled for each restart in a row of runs shorter than
# 10 s, at most a minute, so a container that dies at once does not spin the node.
BACKOFF_FIRST = 0.1
BACKOFF_MAX = 60.0
BACKOFF_RESET_AFTER = 10.0


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
            # `--rm` takes the container's anonymous volumes with it, as Docker's does.
            do_remove(c, force=True, remove_volumes=True)
            return
        if should_restart(c):
            c = _after_backoff(c)
            if c is None:
                return
            c.restart_count += 1
            c.save(update_fields=["restart_count"])
            do_start(c, by_policy=True)
    except ApiError as e:
        log.warning("after the exit of %s: %s", c.id[:12], e.message)


def backoff(c: Container) -> float:
    """How long to wait before restarting `c` after the run that just ended."""
    try:
        ran = stamp(c.finished_at) - stamp(c.started_at)
    except ValueError:
        ran = 0.0
    if ran >= BACKOFF_RESET_AFTER:
        return 0.0
    return min(BACKOFF_FIRST * 2 ** min(c.restart_count, 16), BACKOFF_MAX)


def _after_backoff(c: Container) -> Container | None:
    """The row after the back-off, if it should still be restarted then: in the meantime the
    user may have removed it, started it, stopped it or changed its policy."""
    delay = backoff(c)
    if delay:
        # This runs in a thread of its own (the agent's exit handler); waiting here holds
        # nothing else up.
        time.sleep(delay)
    fresh = Container.objects.select_related("node").filter(id=c.id).first()
    if (
        fresh is None
        or fresh.running
        or (fresh.start_count, fresh.finished_at)
        != (
            c.start_count,
            c.finished_at,
        )
    ):
        return None
    return fresh if should_restart(fresh) else None


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


def revive(c: Container) -> None:
    """After the node's processes or the host come back: a container whose policy is
    `always` or `unless-stopped`, that ran before and was not stopped by its user, is started
    again, as Docker's daemon does at its own start."""
    policy = (c.host_config.get("RestartPolicy") or {}).get("Name") or "no"
    if c.running or c.stopped_by_user or not c.start_count:
        return
    if policy not in ("always", "unless-stopped"):
        return
    try:
        do_start(c, by_policy=True)
    except ApiError as e:
        log.warning("restarting %s: %s", c.id[:12], e.message)
