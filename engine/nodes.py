"""Running a task on a node's worker and turning its answer back into a value or an error."""

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from celery import Task
from celery.exceptions import TimeoutError as CeleryTimeout
from django.conf import settings
from django.utils import timezone
from kombu.exceptions import OperationalError

from .errors import RUNTIME_KINDS, ApiError, Unavailable
from .models import Node

# A node's agent heartbeats every 5 s: three missed and it is down.
NODE_DOWN_AFTER = timedelta(seconds=15)


def local_node() -> Node:
    node, _ = Node.objects.get_or_create(name=settings.DOCKYARD_NODE)
    return node


def is_down(node: Node, now=None) -> bool:
    """A joined node that stopped heartbeating (or was revoked). The control plane's own
    node is never down here: its worker answers or times out as on a single machine."""
    if not node.joined:
        return False
    if node.revoked or node.last_seen is None:
        return True
    return (now or timezone.now()) - node.last_seen > NODE_DOWN_AFTER


def check_reachable(node: Node) -> None:
    """Fail fast, naming the node, instead of waiting out a task timeout."""
    if is_down(node):
        state = "revoked" if node.revoked else "down (no heartbeat)"
        raise Unavailable(f"node {node.name} is {state}; its containers cannot be reached")


# Celery keeps its result backend (a redis connection and a subscription) per thread, and
# setting one up costs tens of milliseconds. Requests run in short-lived threads, so the calls
# go through these long-lived ones instead.
_callers = ThreadPoolExecutor(max_workers=32, thread_name_prefix="node-call")


def _call(task: Task, args: tuple, queue: str, timeout: float) -> dict:
    return task.apply_async(args, queue=queue).get(timeout=timeout)


def run_on_node(node: Node, task: Task, *args: Any, timeout: float | None = None) -> Any:
    """Run `task` on `node`'s queue and return its value; runtime errors become ApiErrors."""
    check_reachable(node)
    try:
        if settings.CELERY_TASK_ALWAYS_EAGER:
            answer = task.apply(args).get()
        else:
            wait = timeout or settings.DOCKYARD_TASK_TIMEOUT
            answer = _callers.submit(_call, task, args, node.queue, wait).result()
    except CeleryTimeout:
        raise Unavailable(
            f"node {node.name} did not answer in time; is its worker running?"
        ) from None
    except OperationalError as e:
        raise Unavailable(f"cannot reach the task broker: {e}") from None
    if "error" in answer:
        kind, message = answer["error"]["kind"], answer["error"]["message"]
        raise RUNTIME_KINDS.get(kind, ApiError)(message)
    return answer["ok"]
