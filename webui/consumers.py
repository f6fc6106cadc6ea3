"""Websockets of the dashboard: the live container list, logs, stats and the web terminal.

Each socket checks the container against the engine's own visibility rules, joins its user's
group (a password change closes them all) and relays a node agent stream opened with
engine.streams.client.Stream. Every send is awaited, and uvicorn's websocket `send`
(websockets-sansio) waits while the connection's write buffer is over its high-water mark
before it writes the message: a slow browser holds the relay, which stops reading its stream,
and the agent waits in turn. The buffer holds at most one message past the mark.

However a socket ends (the page closes it, the network drops, a handler fails), its streams
are cancelled: the agent ends an exec's process when its stream goes.
"""

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.http import Http404

from engine.api.schemas import ExecCreate
from engine.errors import ApiError
from engine.events import ALL
from engine.models import Container
from engine.services.access import visible_containers
from engine.services.execs import do_create_exec, exec_stream_args
from engine.streams.client import Stream

from .access import actor_of, container_for
from .batching import Batches, TextRuns
from .rows import container_rows
from .signals import user_group
from .stats import StatsReader

# Close codes in the 4000 range, which browsers hand to the page as they are.
DENIED, SESSION_CLOSED, IDLE, STREAM_ERROR = 4403, 4401, 4408, 4500
LIST_STATS_LIMIT = 50
# A followed log goes to the page at most once per LOG_INTERVAL, or sooner once LOG_BATCH
# bytes wait: a container printing flat out costs the browser 20 messages a second, not one
# per frame the agent read. LOG_BATCH is also all the relay holds while the browser is behind.
LOG_BATCH = 256 * 1024
LOG_INTERVAL = 0.05


class DashboardSocket(AsyncWebsocketConsumer):
    """A signed-in user's socket; closed when their password changes."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tasks: list[asyncio.Task] = []
        self.groups_joined: list[str] = []
        self.ended = False

    async def __call__(
        self,
        scope: dict,
        receive: Callable[[], Awaitable[dict]],
        send: Callable[[dict], Awaitable[None]],
    ) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            # A consumer whose handler failed never hears websocket.disconnect; what it
            # opened on a node must end all the same.
            await self.end()

    async def connect(self):
        self.user = self.scope.get("user")
        if self.user is None or not self.user.is_authenticated:
            await self.close(DENIED)
            return
        await self.join(user_group(self.user.pk))
        try:
            await self.start()
        except Http404:
            await self.close(DENIED)
        except ApiError as e:
            await self.accept()
            await self.send_error(e.message)
            await self.close(STREAM_ERROR)

    async def start(self) -> None:
        await self.accept()

    async def send_error(self, message: str) -> None:
        await self.send(text_data=json.dumps({"kind": "error", "message": message}))

    async def join(self, group: str) -> None:
        await self.channel_layer.group_add(group, self.channel_name)
        self.groups_joined.append(group)

    def spawn(self, coro) -> asyncio.Task:
        task = asyncio.create_task(coro)
        self.tasks.append(task)
        return task

    async def session_close(self, message):
        await self.close(SESSION_CLOSED)

    async def disconnect(self, code: int) -> None:
        await self.end()

    async def end(self) -> None:
        """Cancel the socket's tasks and streams, then leave its groups; once only."""
        if self.ended:
            return
        self.ended = True
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.stop()
        for group in self.groups_joined:
            with contextlib.suppress(Exception):
                await self.channel_layer.group_discard(group, self.channel_name)

    async def stop(self) -> None:
        pass

    async def container(self) -> Container:
        cid = self.scope["url_route"]["kwargs"]["cid"]
        return await sync_to_async(container_for)(self.user, cid)

    def query(self) -> dict[str, str]:
        from urllib.parse import parse_qsl

        return dict(parse_qsl(self.scope.get("query_string", b"").decode()))


class ContainerListSocket(DashboardSocket):
    """Rows of the containers the user may see, sent again whenever an event touches them."""

    async def start(self) -> None:
        await self.join(ALL)
        await self.accept()
        self.stats: dict[str, asyncio.Task] = {}
        rows = await sync_to_async(self._rows)()
        self.shown = {row["id"] for row in rows}
        for row in rows:
            if row["running"]:
                self._watch(row["id"])

    def _rows(self, cid: str | None = None) -> list[dict]:
        qs = visible_containers(actor_of(self.user))
        return container_rows(qs.filter(id=cid) if cid else qs)

    async def engine_event(self, message):
        event = message["event"]
        if event.get("Type") != "container":
            return
        cid = event["Actor"]["ID"]
        rows = await sync_to_async(self._rows)(cid)
        if rows:
            self.shown.add(cid)
            await self.send(text_data=json.dumps({"kind": "row", "row": rows[0]}))
            if rows[0]["running"]:
                self._watch(cid)
        elif cid in self.shown:
            self.shown.discard(cid)
            await self.send(text_data=json.dumps({"kind": "gone", "id": cid}))
        if not rows or not rows[0]["running"]:
            task = self.stats.pop(cid, None)
            if task:
                task.cancel()

    def _watch(self, cid: str) -> None:
        if cid in self.stats or len(self.stats) >= LIST_STATS_LIMIT:
            return
        self.stats[cid] = self.spawn(self._stats(cid))

    async def _stats(self, cid: str) -> None:
        c = await Container.objects.select_related("node").aget(id=cid)
        reader = StatsReader()
        stream = await Stream(c.node.name, "stats", {"cid": cid, "name": c.name}).open()
        try:
            async for message in stream.messages():
                for sample in reader.feed(message["data"]):
                    await self.send(text_data=json.dumps({"kind": "stats", "id": cid, **sample}))
        finally:
            await stream.cancel()
            self.stats.pop(cid, None)


class StreamSocket(DashboardSocket):
    """A socket that relays one agent stream about one container."""

    stream: Stream | None = None

    async def open_stream(self, c: Container, kind: str, args: dict) -> Stream:
        node = await sync_to_async(lambda: c.node.name)()
        self.stream = await Stream(node, kind, args).open()
        return self.stream

    async def relay(self) -> None:
        try:
            await self.pump()
            await self.finished()
        except ApiError as e:
            await self.send_error(e.message)
        await self.close()

    async def pump(self) -> None:
        """Hand every message of the stream to `forward`, one send at a time."""
        async for message in self.stream.messages():
            await self.forward(message)

    async def forward(self, message: dict) -> None:
        raise NotImplementedError

    async def finished(self) -> None:
        pass

    async def stop(self) -> None:
        if self.stream is not None:
            await self.stream.cancel()


class LogsSocket(StreamSocket):
    """A container's log, followed: `{"kind": "log", "chunks": [[fd, text], ...]}` messages.

    Chunks are batched (see LOG_BATCH); a batch keeps the order of stdout and stderr.
    """

    async def start(self) -> None:
        c = await self.container()
        q = self.query()
        tail = q.get("tail", "1000")
        args = {
            "cid": c.id,
            "stdout": True,
            "stderr": True,
            "follow": True,
            "timestamps": q.get("timestamps") == "1",
            "tail": int(tail) if tail.isdigit() else None,
        }
        await self.open_stream(c, "logs", args)
        await self.accept()
        self.spawn(self.relay())

    async def pump(self) -> None:
        batches = Batches(LOG_BATCH, LOG_INTERVAL)
        reader = asyncio.create_task(self._read(batches))
        text = TextRuns()
        try:
            while chunks := await batches.take():
                await self._send_runs(text.runs(chunks))
            await self._send_runs(text.runs([], final=True))
            # The reader is done: its error, if any, is the stream's.
            await reader
        finally:
            reader.cancel()

    async def _read(self, batches: Batches) -> None:
        try:
            async for fd, data in self.stream.frames():
                # A frame may be up to 4 MiB; in slices, no message is much over LOG_BATCH.
                for start in range(0, len(data), LOG_BATCH):
                    await batches.put(fd, data[start : start + LOG_BATCH])
        finally:
            batches.end()

    async def _send_runs(self, runs: list[list]) -> None:
        if runs:
            await self.send(text_data=json.dumps({"kind": "log", "chunks": runs}))


class StatsSocket(StreamSocket):
    """Samples of CPU, memory, network and block I/O, one a second."""

    async def start(self) -> None:
        c = await self.container()
        if c.status != Container.Status.RUNNING:
            await self.accept()
            await self.send_error("the container is not running")
            await self.close()
            return
        self.reader = StatsReader()
        await self.open_stream(c, "stats", {"cid": c.id, "name": c.name, "stream": True})
        await self.accept()
        self.spawn(self.relay())

    async def forward(self, message: dict) -> None:
        for sample in self.reader.feed(message["data"]):
            await self.send(text_data=json.dumps({"kind": "stats", **sample}))


class TerminalSocket(StreamSocket):
    """xterm.js to a shell exec'd in the container (or its own terminal, attached).

    Binary frames carry keystrokes and output; text frames carry `{"type": "resize",
    "cols", "rows"}` from the page.
    """

    async def start(self) -> None:
        c = await self.container()
        q = self.query()
        self.idle = _idle_timeout(q.get("idle", ""))
        self.last = time.monotonic()
        if q.get("mode") == "attach":
            args = {
                "cid": c.id,
                "stdin": bool(c.config.get("OpenStdin")),
                "stdout": True,
                "stderr": True,
            }
            await self.open_stream(c, "attach", args)
        else:
            command = q.get("cmd") or "/bin/sh"
            body = ExecCreate(
                Cmd=[command],
                AttachStdin=True,
                AttachStdout=True,
                AttachStderr=True,
                Tty=True,
                Env=["TERM=xterm-256color"],
            )
            instance = await sync_to_async(do_create_exec)(actor_of(self.user), c, body)
            await self.open_stream(c, "exec", exec_stream_args(instance))
        await self.accept()
        self.spawn(self.relay())
        self.spawn(self._watch_idle())

    async def forward(self, message: dict) -> None:
        self.last = time.monotonic()
        await self.send(bytes_data=message["data"])

    async def finished(self) -> None:
        code = self.stream.result.get("exit_code") if self.stream else None
        suffix = f" with code {code}" if code is not None else ""
        await self.send(bytes_data=f"\r\n[process exited{suffix}]\r\n".encode())

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        self.last = time.monotonic()
        if self.stream is None:
            return
        if bytes_data is not None:
            await self.stream.write(bytes_data)
            return
        try:
            message = json.loads(text_data or "")
        except ValueError:
            return
        if not isinstance(message, dict):
            return
        if message.get("type") == "resize":
            try:
                rows, cols = int(message.get("rows", 0)), int(message.get("cols", 0))
            except (TypeError, ValueError):
                return
            if 0 < rows < 10000 and 0 < cols < 10000:
                await self.stream.resize(rows, cols)
        elif message.get("type") == "input":
            await self.stream.write(str(message.get("data", "")).encode())

    async def _watch_idle(self) -> None:
        while True:
            left = self.idle - (time.monotonic() - self.last)
            if left <= 0:
                minutes = self.idle / 60
                await self.send(
                    bytes_data=f"\r\n[closed after {minutes:g} idle minutes]\r\n".encode()
                )
                await self.close(IDLE)
                return
            await asyncio.sleep(min(left, 5.0))


def _idle_timeout(asked: str) -> float:
    """The page may ask for a shorter idle time-out than the server's, never a longer one."""
    limit = float(settings.DOCKYARD_TERMINAL_IDLE_TIMEOUT)
    try:
        return max(1.0, min(float(asked), limit))
    except ValueError:
        return limit
