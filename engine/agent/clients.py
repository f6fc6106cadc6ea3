"""Clients' own connections handed to the agent (see `engine.streams.handoff`).

`HandoffDoor` receives them on a datagram socket beside the agent's stream socket, as root
alone reaches it; `DirectClient` writes a stream's output to one, with the same back-pressure
as a relayed stream: a write waits until the client's socket takes it.
"""

import asyncio
import contextlib
import json
import os
import select
import socket
import threading
from collections.abc import Callable
from pathlib import Path

from ..streams import wire

# How often a thread waiting for a slow client looks whether its stream was cancelled.
STOP_POLL_MS = 100
# A hand-off datagram is a small JSON object and one descriptor.
_DATAGRAM = 4096
_MAX_FDS = 4


class DirectClient:
    """Docker's multiplexed frames (raw bytes with a tty) written to a client's socket."""

    def __init__(self, sock: socket.socket, tty: bool) -> None:
        # The descriptor is shared with the gateway, whose event loop keeps it non-blocking.
        sock.setblocking(False)
        self._sock = sock
        self.tty = tty
        # Frames of several sources (an exec's stdout and stderr) go out whole, one by one.
        self._sending = asyncio.Lock()

    async def data(self, kind: int, data: bytes | memoryview) -> None:
        if self.tty:
            await self._send([data])
        else:
            await self._send([wire.HEADER.pack(kind, len(data)), data])

    async def frame(self, frame: bytes) -> None:
        """A frame made elsewhere, header included; a tty's client gets its payload only."""
        await self._send([memoryview(frame)[wire.HEADER.size :] if self.tty else frame])

    def frame_from_thread(self, frame: memoryview, stop: threading.Event) -> None:
        """`frame` from a thread of the stream's own, waiting while the client is behind;
        ConnectionError once the client has gone or `stop` is set."""
        views = _views([frame[wire.HEADER.size :] if self.tty else frame])
        while self._sent(views):
            if stop.is_set():
                raise ConnectionError("the stream was cancelled")
            poller = select.poll()
            poller.register(self._sock.fileno(), select.POLLOUT)
            poller.poll(STOP_POLL_MS)

    async def _send(self, buffers: list) -> None:
        views = _views(buffers)
        async with self._sending:
            while self._sent(views):
                await _writable(self._sock.fileno())

    def _sent(self, views: list[memoryview]) -> bool:
        """Send what the socket takes of `views`, dropping it from them; True if some is left."""
        try:
            sent = self._sock.sendmsg(views, [], socket.MSG_NOSIGNAL)
        except BlockingIOError:
            sent = 0
        while views and sent >= len(views[0]):
            sent -= len(views[0])
            views.pop(0)
        if views:
            views[0] = views[0][sent:]
        return bool(views)

    def close(self) -> None:
        self._sock.close()


def _views(buffers: list) -> list[memoryview]:
    return [memoryview(b).cast("B") for b in buffers if len(b)]


async def _writable(fd: int) -> None:
    loop = asyncio.get_running_loop()
    waiter = loop.create_future()
    loop.add_writer(fd, lambda: waiter.done() or waiter.set_result(None))
    try:
        await waiter
    finally:
        loop.remove_writer(fd)


class HandoffDoor:
    """Takes clients' connections, and word that what was relayed before has left.

    `accept(key, client)` is False when no stream wants the client; a client of None is the
    word that the stream's relayed output is flushed.
    """

    def __init__(self, path: Path, accept: Callable[[str, DirectClient | None], bool]) -> None:
        self._path = path
        self._accept = accept
        self._sock: socket.socket | None = None

    def open(self) -> None:
        self._path.unlink(missing_ok=True)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        sock.setblocking(False)
        sock.bind(str(self._path))
        os.chmod(self._path, 0o600)
        self._sock = sock
        asyncio.get_running_loop().add_reader(sock.fileno(), self._receive)

    def _receive(self) -> None:
        while True:
            try:
                data, fds, _, _ = socket.recv_fds(
                    self._sock, _DATAGRAM, _MAX_FDS, socket.MSG_CMSG_CLOEXEC
                )
            except BlockingIOError:
                return
            except OSError:
                continue
            for extra in fds[1:]:
                os.close(extra)
            client = DirectClient(socket.socket(fileno=fds[0]), tty=False) if fds else None
            try:
                said = json.loads(data)
                if client is not None:
                    client.tty = bool(said["tty"])
                taken = self._accept(str(said["key"]), client)
            except (ValueError, KeyError, TypeError):
                taken = False
            if client is not None and not taken:
                client.close()

    def close(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(ValueError, OSError):
                asyncio.get_running_loop().remove_reader(self._sock.fileno())
            self._sock.close()
            self._sock = None
