"""Streams of a container's own process: attach, logs, stats."""

import asyncio
import contextlib
import json

from runtime.containers import attach, logs, stats
from runtime.errors import NotFound

from ...events import Subscription, container_group
from ...models import Container
from ...tasks.base import node_paths
from ...tasks.networks import network_manager
from ..context import StreamContext
from ..statsjson import stats_json

STREAMS = {"stdout": 1, "stderr": 2}


# Attach streams still reading each container's output.
ATTACHED: dict[str, set[asyncio.Event]] = {}


async def attach_drained(cid: str, timeout: float) -> None:
    """Return once every attach of `cid` has read the container's output to the end."""
    pending = [done.wait() for done in ATTACHED.get(cid, ())]
    if pending:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*pending), timeout)


async def _start_offset(cid: str, generation: int) -> int | None:
    """The log offset of the first start after `generation`, once it has happened."""
    async with Subscription([container_group(cid)]) as sub:
        while True:
            c = await Container.objects.filter(id=cid).afirst()
            if c is None:
                return None
            if c.start_count > generation:
                return c.log_start_offset
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(sub.next(), 1.0)


async def handle_attach(ctx: StreamContext) -> None:
    a = ctx.args
    paths = node_paths()
    cid = a["cid"]
    feeder = asyncio.create_task(_feed_stdin(ctx, cid)) if a.get("stdin") else None
    wanted = {fd for name, fd in STREAMS.items() if a.get(name)}
    done = asyncio.Event()
    ATTACHED.setdefault(cid, set()).add(done)
    try:
        if a.get("running"):
            offset = await asyncio.to_thread(logs.log_offset, paths, cid)
        else:
            offset = await _start_offset(cid, a.get("generation", 0))
        if offset is not None and wanted:
            produce = lambda: logs.follow_output(paths, cid, offset, ctx.cancelled)  # noqa: E731
            async for entry in await ctx.each(produce):
                fd = STREAMS.get(entry.stream, 1)
                if fd in wanted:
                    await ctx.data(entry.data, fd)
        elif feeder:
            await feeder
    finally:
        done.set()
        ATTACHED[cid].discard(done)
        if not ATTACHED[cid]:
            del ATTACHED[cid]
        if feeder and not feeder.done():
            feeder.cancel()
    await ctx.end()


async def _feed_stdin(ctx: StreamContext, cid: str) -> None:
    paths = node_paths()
    sock = await asyncio.to_thread(attach.open_stdin, paths, cid, 60.0)
    try:
        while True:
            message = await ctx.input.get()
            if message["type"] == "stream.input":
                await asyncio.to_thread(attach.write_stdin, sock, message["data"])
            elif message["type"] == "stream.resize":
                await asyncio.to_thread(attach.resize, paths, cid, message["h"], message["w"])
            else:
                attach.close_stdin(sock)
                return
    finally:
        with contextlib.suppress(OSError):
            sock.close()


async def handle_logs(ctx: StreamContext) -> None:
    a = ctx.args
    paths = node_paths()
    wanted = {fd for name, fd in STREAMS.items() if a.get(name)}

    def produce():
        return logs.read_logs(
            paths,
            a["cid"],
            since=a.get("since"),
            until=a.get("until"),
            tail=a.get("tail"),
            follow=a.get("follow", False),
            stop=ctx.cancelled,
        )

    async for entry in await ctx.each(produce):
        fd = STREAMS.get(entry.stream, 1)
        if fd in wanted:
            prefix = f"{entry.time} ".encode() if a.get("timestamps") else b""
            await ctx.data(prefix + entry.data, fd)
    await ctx.end()


async def handle_stats(ctx: StreamContext) -> None:
    a = ctx.args
    paths = node_paths()
    networks = network_manager(paths)
    previous = None
    while not ctx.cancelled.is_set():
        try:
            current = await asyncio.to_thread(stats.read_stats, paths, a["cid"])
        except NotFound:
            break
        report = stats_json(a, current, previous)
        report["networks"] = await asyncio.to_thread(networks.traffic, a["cid"])
        await ctx.data(json.dumps(report).encode() + b"\n")
        if not a.get("stream", True):
            break
        previous = current
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ctx.input.get(), 1.0)
    await ctx.end()
