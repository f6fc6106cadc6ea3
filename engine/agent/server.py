"""The agent's stream server: a connection per stream, on a unix socket and optionally TCP."""

import asyncio
import contextlib
import logging
import os
import secrets
from pathlib import Path

from runtime.containers.archive import TooLarge
from runtime.errors import Conflict, InvalidInput, NotFound, RuntimeFailure

from ..streams import endpoints, wire
from .clients import DirectClient, HandoffDoor
from .context import StreamContext
from .handlers import HANDLERS

log = logging.getLogger(__name__)
OPEN_TIMEOUT = 10.0
# The first class an error is an instance of gives its status: subclasses come first.
STATUS = {TooLarge: 413, NotFound: 404, InvalidInput: 400, Conflict: 409, RuntimeFailure: 500}


class StreamServer:
    def __init__(self, node_name: str) -> None:
        self.node_name = node_name
        self._servers: list[asyncio.AbstractServer] = []
        self._streams: set[asyncio.Task] = set()
        # Streams of the unix socket by key, for clients' connections handed over.
        self._local: dict[str, StreamContext] = {}
        self._door: HandoffDoor | None = None

    async def listen_unix(self, path: Path) -> None:
        path.unlink(missing_ok=True)
        server = await asyncio.start_unix_server(
            lambda r, w: self._serve(r, w, local=True), str(path), limit=wire.READ_LIMIT
        )
        os.chmod(path, 0o600)
        self._servers.append(server)
        self._door = HandoffDoor(path.with_name(endpoints.HANDOFF_SOCKET), self._hand_client)
        self._door.open()

    def _hand_client(self, key: str, client: DirectClient | None) -> bool:
        ctx = self._local.get(key)
        if ctx is None:
            return False
        if client is None:
            ctx.flushed.set()
            return True
        return ctx.offer(client)

    async def listen_tcp(self, host: str, port: int) -> tuple[str, int]:
        server = await asyncio.start_server(
            lambda r, w: self._serve(r, w, needs_token=True), host, port, limit=wire.READ_LIMIT
        )
        self._servers.append(server)
        return server.sockets[0].getsockname()[:2]

    async def close(self) -> None:
        for server in self._servers:
            server.close()
        if self._door is not None:
            self._door.close()
        for task in list(self._streams):
            task.cancel()
        await asyncio.gather(*self._streams, return_exceptions=True)

    async def _serve(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        needs_token: bool = False,
        local: bool = False,
    ) -> None:
        task = asyncio.current_task()
        self._streams.add(task)
        try:
            opening = await self._opening(reader, writer, needs_token)
            if opening is not None:
                await self._run(opening, reader, writer, secrets.token_hex(16) if local else "")
        except (ConnectionError, wire.ProtocolError):
            pass
        except asyncio.CancelledError:
            # The agent is stopping: what the client has not read is not waited for.
            writer.transport.abort()
            raise
        finally:
            self._streams.discard(task)
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def _opening(self, reader, writer, needs_token: bool) -> dict | None:
        try:
            got = await asyncio.wait_for(wire.read_frame(reader), OPEN_TIMEOUT)
        except TimeoutError:
            return None
        if got is None or got[0] != wire.OPEN:
            return None
        opening = wire.decode(got[1])
        if not isinstance(opening, dict):
            return None
        if needs_token and not endpoints.token_valid(self.node_name, opening.get("token")):
            await _refuse(writer, 401, "this node does not know that token")
            return None
        if opening.get("kind") not in HANDLERS or not isinstance(opening.get("args"), dict):
            await _refuse(writer, 400, f"unknown stream kind {opening.get('kind')!r}")
            return None
        return opening

    async def _run(self, opening: dict, reader, writer, key: str) -> None:
        ctx = StreamContext(writer=writer, args=opening["args"], key=key)
        if key:
            self._local[key] = ctx
        run = HANDLERS[opening["kind"]]
        if not getattr(run, "ready_late", False):
            await ctx.ready()
        inputs = asyncio.create_task(_read_input(reader, ctx))
        handler = asyncio.create_task(run(ctx))
        # A client that hangs up cancels its stream: a shell it opened does not go on alone.
        await asyncio.wait({inputs, handler}, return_when=asyncio.FIRST_COMPLETED)
        if not handler.done() and ctx.cancelled.is_set():
            handler.cancel()
        try:
            await handler
        except asyncio.CancelledError:
            if not ctx.cancelled.is_set():
                raise
        except ConnectionError:
            pass  # the client went away while the handler wrote to it
        except Exception as e:
            # The gateway tells a client whose connection the agent held: let go of it first.
            ctx.close_client()
            status = next((s for kind, s in STATUS.items() if isinstance(e, kind)), None)
            if status is None:
                log.exception("stream %s failed", opening["kind"])
                status, e = 500, f"{type(e).__name__}: {e}"
            await _refuse(writer, status, str(e))
        finally:
            self._local.pop(key, None)
            ctx.cancelled.set()
            ctx.close_client()
            inputs.cancel()


async def _refuse(writer: asyncio.StreamWriter, status: int, message: str) -> None:
    # uvloop answers a write to a transport the client already closed with RuntimeError.
    with contextlib.suppress(ConnectionError, RuntimeError):
        await wire.send(writer, wire.control(wire.ERROR, {"status": status, "message": message}))


async def _read_input(reader: asyncio.StreamReader, ctx: StreamContext) -> None:
    """Client frames into the handler's input queue; the connection's end cancels the stream."""
    try:
        while (got := await wire.read_frame(reader)) is not None:
            kind, payload = got
            if kind == wire.STDIN:
                await ctx.input.put({"type": "stream.input", "data": payload})
            elif kind == wire.EOF:
                await ctx.input.put({"type": "stream.eof"})
            elif kind == wire.DETACH:
                ctx.detached = True
            elif kind == wire.RESIZE:
                size = wire.decode(payload)
                await ctx.input.put({"type": "stream.resize", "h": size["h"], "w": size["w"]})
    except (ConnectionError, wire.ProtocolError, KeyError, TypeError):
        pass
    ctx.cancelled.set()
    with contextlib.suppress(asyncio.QueueFull):
        ctx.input.put_nowait({"type": "stream.cancel"})
