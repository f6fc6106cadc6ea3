"""The agent's event loop: stream server, exit watcher, reconciler, heartbeat."""

import asyncio
import contextlib
import logging
import os
from dataclasses import asdict
from pathlib import Path

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.utils import timezone
from inotify_simple import INotify, flags

from runtime import cgroups
from runtime.containers import lifecycle
from runtime.errors import InvalidInput, NotFound, RuntimeFailure

from ..models import Container, Node
from ..nodes import local_node
from ..services.containers import record_exit
from ..services.networks import sync_networks
from ..streams import agent_channel
from ..tasks.base import node_paths
from ..tasks.networks import recover_node_network
from .context import StreamContext
from .exits import after_exit, record
from .handlers import EXEC_STREAMS, HANDLERS, attach_drained

log = logging.getLogger(__name__)
HEARTBEAT = 10.0
ATTACH_DRAIN_TIMEOUT = 30.0


def ready_file() -> Path:
    """Written once the agent watches exits and has reconciled; the launcher waits for it."""
    return settings.DOCKYARD_RUN_DIR / "agent.ready"


def _watch_exits() -> INotify:
    exits = lifecycle.exits_dir(node_paths())
    exits.mkdir(parents=True, exist_ok=True)
    inotify = INotify()
    inotify.add_watch(exits, flags.CLOSE_WRITE | flags.MOVED_TO)
    return inotify


class Agent:
    def __init__(self) -> None:
        self.node: Node | None = None
        self.layer = get_channel_layer()

    async def run(self) -> None:
        self.node = await sync_to_async(local_node)()
        await asyncio.to_thread(cgroups.prepare_host)
        # Watch first, then reconcile: an exit in between is seen by one or the other.
        inotify = _watch_exits()
        await sync_to_async(reconcile)(self.node)
        ready_file().write_text(str(os.getpid()))
        await asyncio.gather(self.serve_streams(), self.watch_exits(inotify), self.heartbeat())

    async def heartbeat(self) -> None:
        while True:
            await Node.objects.filter(id=self.node.id).aupdate(last_seen=timezone.now())
            await asyncio.sleep(HEARTBEAT)

    async def serve_streams(self) -> None:
        channel = agent_channel(self.node.name)
        while True:
            message = await self.layer.receive(channel)
            if message.get("type") == "stream.open":
                asyncio.create_task(self.run_stream(message))
            elif message.get("type") == "exec.resize":
                ctx = EXEC_STREAMS.get(message["exec_id"])
                if ctx is not None:
                    ctx.input.put_nowait(
                        {"type": "stream.resize", "h": message["h"], "w": message["w"]}
                    )

    async def run_stream(self, message: dict) -> None:
        handler = HANDLERS.get(message["kind"])
        ctx = StreamContext(layer=self.layer, reply=message["reply"], args=message["args"])
        if handler is None:
            await ctx.error(400, f"unknown stream kind {message['kind']!r}")
            return
        input_channel = await self.layer.new_channel()
        reader = asyncio.create_task(self._read_input(input_channel, ctx))
        await self.layer.send(ctx.reply, {"type": "stream.ready", "input": input_channel})
        try:
            await handler(ctx)
        except NotFound as e:
            await ctx.error(404, str(e))
        except InvalidInput as e:
            await ctx.error(400, str(e))
        except RuntimeFailure as e:
            await ctx.error(500, str(e))
        except Exception as e:
            log.exception("stream %s failed", message["kind"])
            await ctx.error(500, f"{type(e).__name__}: {e}")
        finally:
            ctx.cancelled.set()
            reader.cancel()

    async def _read_input(self, channel: str, ctx: StreamContext) -> None:
        while True:
            message = await self.layer.receive(channel)
            if message["type"] == "stream.cancel":
                ctx.cancelled.set()
            await ctx.input.put(message)

    async def watch_exits(self, inotify: INotify) -> None:
        loop = asyncio.get_running_loop()
        ready = asyncio.Event()
        loop.add_reader(inotify.fileno(), ready.set)
        try:
            while True:
                await ready.wait()
                ready.clear()
                for event in inotify.read(timeout=0):
                    asyncio.create_task(self._on_exit(event.name))
        finally:
            loop.remove_reader(inotify.fileno())
            inotify.close()

    async def _on_exit(self, cid: str) -> None:
        try:
            c = await sync_to_async(record, thread_sensitive=False)(cid)
            if c is not None:
                # --rm must not remove the log before attached clients have read it all.
                await attach_drained(cid, ATTACH_DRAIN_TIMEOUT)
                await sync_to_async(after_exit, thread_sensitive=False)(c)
        except Exception:
            log.exception("handling the exit of %s", cid[:12])


def reconcile(node: Node) -> None:
    """Make the ORM agree with what runs here after any crash or reboot."""
    paths = node_paths()
    on_node = set(lifecycle.list_ids(paths))
    for c in Container.objects.filter(node=node).select_related("node"):
        if c.id not in on_node:
            c.status = Container.Status.DEAD
            c.error = "the container's state was lost on its node"
            c.save(update_fields=["status", "error"])
            continue
        try:
            state = lifecycle.refresh(paths, c.id)
        except RuntimeFailure as e:
            log.warning("reconcile %s: %s", c.id[:12], e)
            continue
        was_running = c.running
        record_exit(c, asdict(state))
        if was_running and not c.running:
            after_exit(c)
    known = set(Container.objects.filter(node=node).values_list("id", flat=True))
    for orphan in on_node - known:
        with contextlib.suppress(RuntimeFailure):
            lifecycle.remove(paths, orphan, force=True)
    try:
        sync_networks(node, recover_node_network(paths, lifecycle.list_ids(paths)), complete=True)
    except (RuntimeFailure, OSError):
        log.exception("restoring the node's networks")
