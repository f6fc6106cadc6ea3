"""The node agent probes every running container that has a healthcheck, on its schedule.

Probes run here rather than from a client's request so a container's health is kept whether
or not anyone is connected. The set of monitored runs is read from the ORM once a second:
a start anywhere (CLI, restart policy, health action) shows up as a new `started_at`, and
each run gets a monitor of its own that ends with it.
"""

import asyncio
import logging
import time

from asgiref.sync import sync_to_async

from runtime.containers.health import probe

from ..models import Container, Node
from ..services.health import Check, check_of, do_health_failure_action, record_probe, stamp
from ..tasks.base import node_paths

log = logging.getLogger(__name__)
SCAN = 1.0


def _runs_to_watch(node: Node) -> dict[str, tuple[str, Check]]:
    """cid -> (started_at, check) of this node's containers that run with a healthcheck."""
    runs = {}
    rows = Container.objects.filter(node=node, status__in=["running", "paused"]).values_list(
        "id", "started_at", "config"
    )
    for cid, started_at, config in rows:
        check = check_of(config)
        if check is not None:
            runs[cid] = (started_at, check)
    return runs


def _is_paused(cid: str) -> bool:
    return Container.objects.filter(id=cid, status=Container.Status.PAUSED).exists()


class HealthMonitor:
    def __init__(self, node: Node) -> None:
        self.node = node
        self.monitors: dict[str, tuple[str, asyncio.Task]] = {}

    async def run(self) -> None:
        try:
            while True:
                try:
                    runs = await sync_to_async(_runs_to_watch, thread_sensitive=False)(self.node)
                except Exception:
                    log.exception("listing the containers to health-check")
                    runs = None
                if runs is not None:
                    self._follow(runs)
                await asyncio.sleep(SCAN)
        finally:
            for _, task in self.monitors.values():
                task.cancel()

    def _follow(self, runs: dict[str, tuple[str, Check]]) -> None:
        for cid in list(self.monitors):
            started_at, task = self.monitors[cid]
            if task.done() or runs.get(cid, ("",))[0] != started_at:
                task.cancel()
                del self.monitors[cid]
        for cid, (started_at, check) in runs.items():
            if cid not in self.monitors:
                task = asyncio.create_task(self._monitor(cid, started_at, check))
                self.monitors[cid] = (started_at, task)

    async def _monitor(self, cid: str, started_at: str, check: Check) -> None:
        started = stamp(started_at)
        last = started
        status = "starting"
        while True:
            # Docker probes every start-interval while a check is still starting within its
            # start period, and every interval otherwise, counted from the last probe.
            in_start = status == "starting" and time.time() - started < check.start_period
            wait = check.start_interval if in_start else check.interval
            await asyncio.sleep(max(0.0, last + wait - time.time()))
            if await sync_to_async(_is_paused, thread_sensitive=False)(cid):
                last = time.time()
                continue
            try:
                result = await asyncio.to_thread(
                    probe, node_paths(), cid, check.test, check.timeout
                )
                outcome = await sync_to_async(record_probe, thread_sensitive=False)(
                    cid, started_at, result.to_docker(), check
                )
            except Exception:
                log.exception("health probe of %s", cid[:12])
                last = time.time()
                continue
            last = time.time()
            if outcome is None:
                return
            status = outcome.status
            if outcome.turned_unhealthy and outcome.action != "none":
                await sync_to_async(do_health_failure_action, thread_sensitive=False)(
                    cid, outcome.action
                )
                return
