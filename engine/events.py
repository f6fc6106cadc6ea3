"""Docker-style events: published on commit to the channel layer, read by waiters and streams."""

import asyncio
import functools
import json
import time
from dataclasses import dataclass, field

import redis
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction

ALL = "events"


def container_group(cid: str) -> str:
    return f"container.{cid}"


def make_event(kind: str, action: str, actor_id: str, attributes: dict) -> dict:
    now = time.time_ns()
    event = {
        "Type": kind,
        "Action": action,
        "Actor": {"ID": actor_id, "Attributes": attributes},
        "scope": "local",
        "time": now // 1_000_000_000,
        "timeNano": now,
    }
    if kind == "container":
        event.update(status=action, id=actor_id, **{"from": attributes.get("image", "")})
    return event


def publish(event: dict) -> None:
    """Send after the surrounding transaction commits, so no one hears of a rolled-back change."""
    groups = [ALL]
    if event["Type"] == "container":
        groups.append(container_group(event["Actor"]["ID"]))
    transaction.on_commit(lambda: _send(groups, event))


def _send(groups: list[str], event: dict) -> None:
    _remember(event)
    async_to_sync(_send_to_groups)(groups, {"type": "engine.event", "event": event})


async def _send_to_groups(groups: list[str], message: dict) -> None:
    # One trip to the event loop for all groups: a waiter for `docker run --rm` hears of the
    # container's end through here, so each hop is on that command's path.
    layer = get_channel_layer()
    await asyncio.gather(*(layer.group_send(group, message) for group in groups))


# `docker events --since` replays the past: the latest events are kept in a capped redis list.
HISTORY_KEY = "dockyard:events"
HISTORY_LENGTH = 1000


@functools.cache
def _history() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=None)


def _remember(event: dict) -> None:
    with _history().pipeline() as pipe:
        pipe.rpush(HISTORY_KEY, json.dumps(event))
        pipe.ltrim(HISTORY_KEY, -HISTORY_LENGTH, -1)
        pipe.execute()


def history(since: float) -> list[dict]:
    """Remembered events at or after `since` (seconds), oldest first."""
    events = (json.loads(raw) for raw in _history().lrange(HISTORY_KEY, 0, -1))
    return [e for e in events if e["timeNano"] >= since * 1_000_000_000]


@dataclass
class Subscription:
    """`async with Subscription([...]) as sub: event = await sub.next(timeout)`."""

    groups: list[str]
    channel: str = ""
    _layer: object = field(default=None, repr=False)

    async def __aenter__(self) -> "Subscription":
        self._layer = get_channel_layer()
        # One prefix for every channel of a process: channels_redis reads all of them
        # through one receive loop keyed by that prefix.
        self.channel = await self._layer.new_channel()
        for group in self.groups:
            await self._layer.group_add(group, self.channel)
        return self

    async def __aexit__(self, *exc) -> None:
        for group in self.groups:
            await self._layer.group_discard(group, self.channel)

    async def next(self) -> dict:
        message = await self._layer.receive(self.channel)
        return message["event"]
