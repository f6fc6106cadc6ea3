"""Healthchecks: Docker's states and what a probe's result does to them, and the node's
action on a container that turns unhealthy (`dockyard.health.on-failure`, podman's values).

The node agent (engine/agent/health.py) runs the probes; everything here is decided from
the container's row, so inspect, `docker ps` and events agree on one state.
"""

import logging
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction

from ..errors import ApiError, BadRequest
from ..models import Container

log = logging.getLogger(__name__)

STARTING, HEALTHY, UNHEALTHY = "starting", "healthy", "unhealthy"
# Docker keeps the last five probes in State.Health.Log.
LOG_LENGTH = 5
# Docker's defaults, in seconds, for what a check leaves at 0.
DEFAULT_INTERVAL = 30.0
DEFAULT_TIMEOUT = 30.0
DEFAULT_START_INTERVAL = 5.0
DEFAULT_RETRIES = 3
ON_FAILURE_LABEL = "dockyard.health.on-failure"
ON_FAILURE_ACTIONS = ("none", "restart", "stop", "kill")


@dataclass(frozen=True)
class Check:
    test: list[str]
    interval: float
    timeout: float
    start_period: float
    start_interval: float
    retries: int


def _seconds(ns: int | None, default: float) -> float:
    return ns / 1e9 if ns else default


def check_of(config: dict) -> Check | None:
    """The container's healthcheck, or None when it has none (or `NONE`, which disables the
    image's)."""
    hc = config.get("Healthcheck") or {}
    test = hc.get("Test") or []
    if not test or test[0] == "NONE":
        return None
    return Check(
        test=list(test),
        interval=_seconds(hc.get("Interval"), DEFAULT_INTERVAL),
        timeout=_seconds(hc.get("Timeout"), DEFAULT_TIMEOUT),
        start_period=_seconds(hc.get("StartPeriod"), 0.0),
        start_interval=_seconds(hc.get("StartInterval"), DEFAULT_START_INTERVAL),
        retries=hc.get("Retries") or DEFAULT_RETRIES,
    )


def check_on_failure_label(labels: dict) -> None:
    action = labels.get(ON_FAILURE_LABEL)
    if action is not None and action not in ON_FAILURE_ACTIONS:
        raise BadRequest(
            f"invalid {ON_FAILURE_LABEL} {action!r}: one of {', '.join(ON_FAILURE_ACTIONS)}"
        )


def initial_health(config: dict) -> dict:
    """State.Health of a container that just started: empty when it has no check."""
    if check_of(config) is None:
        return {}
    return {"Status": STARTING, "FailingStreak": 0, "Log": []}


def stamp(text: str) -> float:
    """Seconds since the epoch of an RFC 3339 time with up to nanoseconds."""
    head, _, frac = text.rstrip("Z").partition(".")
    whole = datetime.fromisoformat(head + "+00:00").timestamp()
    return whole + (float(f"0.{frac}") if frac.isdigit() else 0.0)


def next_health(health: dict, result: dict, check: Check, started_at: str) -> dict:
    """Docker's handleProbeResult: a pass makes it healthy and clears the streak; a failure
    adds to the streak, except while it is still starting within its start period, and
    `retries` failures in a row make it unhealthy."""
    out = {
        "Status": health.get("Status") or STARTING,
        "FailingStreak": health.get("FailingStreak") or 0,
        "Log": [*(health.get("Log") or []), result][-LOG_LENGTH:],
    }
    if result["ExitCode"] == 0:
        out["Status"], out["FailingStreak"] = HEALTHY, 0
        return out
    in_start_period = stamp(result["Start"]) - stamp(started_at) < check.start_period
    if out["Status"] == STARTING and in_start_period:
        return out
    out["FailingStreak"] += 1
    if out["FailingStreak"] >= check.retries:
        out["Status"] = UNHEALTHY
    return out


@dataclass(frozen=True)
class ProbeOutcome:
    status: str
    turned_unhealthy: bool
    action: str


def record_probe(cid: str, started_at: str, result: dict, check: Check) -> ProbeOutcome | None:
    """Write a probe's result into the row of the run it probed; None when that run is over
    (stopped, restarted, removed), so its monitor ends."""
    from .containers import emit

    with transaction.atomic():
        c = Container.objects.select_for_update().filter(id=cid).first()
        if c is None or c.status != Container.Status.RUNNING or c.started_at != started_at:
            return None
        before = (c.health or {}).get("Status")
        c.health = next_health(c.health or {}, result, check, started_at)
        c.save(update_fields=["health"])
        status = c.health["Status"]
        if status != before:
            emit(c, f"health_status: {status}")
    labels = c.config.get("Labels") or {}
    return ProbeOutcome(
        status=status,
        turned_unhealthy=status == UNHEALTHY and before != UNHEALTHY,
        action=labels.get(ON_FAILURE_LABEL) or "none",
    )


def do_health_failure_action(cid: str, action: str) -> None:
    """What `dockyard.health.on-failure` asks once a container turns unhealthy."""
    from .containers import do_kill, do_restart, do_stop

    c = Container.objects.select_related("node").filter(id=cid).first()
    if c is None or not c.running or action not in ("restart", "stop", "kill"):
        return
    log.info("%s turned unhealthy: %s", c.id[:12], action)
    try:
        if action == "restart":
            do_restart(c)
        elif action == "stop":
            do_stop(c)
        else:
            do_kill(c, "SIGKILL")
    except ApiError as e:
        log.warning("health action %s on %s: %s", action, c.id[:12], e.message)


def status_suffix(c: Container) -> str:
    """What `docker ps` adds to a running container's status."""
    status = (c.health or {}).get("Status")
    if not status or check_of(c.config) is None:
        return ""
    return " (health: starting)" if status == STARTING else f" ({status})"
