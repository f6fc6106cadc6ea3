"""The agent's event loop: stream server, exit watcher, reconciler, heartbeat."""

import asyncio
import contextlib
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path

from asgiref.sync import sync_to_async
from django.conf import settings
from django.utils import timezone
from inotify_simple import INotify, flags

from runtime import cgroups
from runtime.containers import layout, lifecycle
from runtime.errors import RuntimeFailure

from ..models import Container, Node
from ..nodes import local_node
from ..services.containers import record_exit
from ..services.networks import sync_networks
from ..streams import endpoints
from ..tasks.base import node_paths
from ..tasks.networks import recover_node_network
from .exits import after_exit, record, revive
from .health import HealthMonitor
from .rotation import rotate_logs_forever
from .server import StreamServer

log = logging.getLogger(__name__)
# The control plane marks a node down after 15 s without one (engine.nodes.NODE_DOWN_AFTER).
HEARTBEAT = 5.0
# Streams each hold a thread while they read files or wait on a process (followed logs, stats,
# archives); the loop's default pool of a few threads would leave new streams waiting.
STREAM_THREADS = 256


def ready_file() -> Path:
    """Written once the agent watches exits and has reconciled; the launcher waits for it."""
    return settings.DOCKYARD_RUN_DIR / "agent.ready"


def _watch_exits() -> INotify:
    exits = layout.exits_dir(node_paths())
    exits.mkdir(parents=True, exist_ok=True)
    inotify = INotify()
    inotify.add_watch(exits, flags.CLOSE_WRITE | flags.MOVED_TO)
    return inotify


class Agent:
    def __init__(self) -> None:
        self.node: Node | None = None

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        loop.set_default_executor(ThreadPoolExecutor(STREAM_THREADS, "agent"))
        self.node = await sync_to_async(local_node)()
        await asyncio.to_thread(cgroups.prepare_host)
        streams = StreamServer(self.node.name)
        await streams.listen_unix(endpoints.agent_socket())
        address = ""
        if settings.DOCKYARD_AGENT_LISTEN:
            listen = endpoints.split_tcp(settings.DOCKYARD_AGENT_LISTEN)
            host, port = await streams.listen_tcp(*listen)
            address = f"{endpoints.TCP_PREFIX}{settings.DOCKYARD_AGENT_ADVERTISE or host}:{port}"
        await Node.objects.filter(id=self.node.id).aupdate(stream_address=address)
        # Watch first, then reconcile: an exit in between is seen by one or the other.
        inotify = _watch_exits()
        await sync_to_async(reconcile)(self.node)
        ready_file().write_text(str(os.getpid()))
        try:
            await asyncio.gather(
                self.watch_exits(inotify),
                self.heartbeat(),
                rotate_logs_forever(),
                HealthMonitor(self.node).run(),
            )
        finally:
            await streams.close()

    async def heartbeat(self) -> None:
        while True:
            await Node.objects.filter(id=self.node.id).aupdate(last_seen=timezone.now())
            await asyncio.sleep(HEARTBEAT)

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
                await sync_to_async(after_exit, thread_sensitive=False)(c)
        except Exception:
            log.exception("handling the exit of %s", cid[:12])


def reconcile(node: Node) -> None:
    """Make the ORM agree with what runs here after any crash or reboot."""
    paths = node_paths()
    on_node = set(lifecycle.list_ids(paths))
    ended, stopped = [], []
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
            ended.append(c)
        elif not c.running:
            stopped.append(c)
    known = set(Container.objects.filter(node=node).values_list("id", flat=True))
    for orphan in on_node - known:
        with contextlib.suppress(RuntimeFailure):
            lifecycle.remove(paths, orphan, force=True)
    try:
        sync_networks(node, recover_node_network(paths, lifecycle.list_ids(paths)), complete=True)
    except (RuntimeFailure, OSError):
        log.exception("restoring the node's networks")
    # Restart policies last: a container started again needs its networks' bridges, which
    # a reboot took away and the recovery above brought back.
    for handle, containers in ((after_exit, ended), (revive, stopped)):
        for c in containers:
            try:
                handle(c)
            except Exception:
                log.exception("restart policy of %s", c.id[:12])
