"""Blob upload bodies reach the registry's views while they arrive.

Django reads a whole request body into a spool file before it calls a view: a pushed layer
would cross the disk twice and be hashed only after its last byte came in. For blob uploads
this ASGI wrapper gives Django an empty body and hands the view the connection's body
instead, so the layer is written and hashed while the client is still sending it.
"""

import asyncio
import queue
import re

from django.core.exceptions import RequestAborted

from platformkit.asgi_bodies import receive_for_django

SCOPE_KEY = "dockyard.body"
_UPLOAD_PATH = re.compile(r"/v2/.+/blobs/uploads/.*")
_UPLOAD_METHODS = ("POST", "PATCH", "PUT")
# Messages read ahead of the view. The server stops reading the socket while the app does
# not ask for more, so reading ahead keeps the connection busy while the view writes to disk.
_AHEAD = 64


class StreamedBody:
    """A request body the server receives on its loop and the view reads from its thread."""

    def __init__(self, receive, loop: asyncio.AbstractEventLoop):
        self._receive = receive
        self._loop = loop
        self._messages: queue.Queue[dict] = queue.Queue(_AHEAD)
        self._room = asyncio.Event()
        self._pending = b""
        self._more = True
        # Set once the body is over: only then may Django listen for the client leaving.
        self.over = asyncio.Event()

    async def pump(self) -> None:
        """Receive the body into the read-ahead queue until it ends or the client leaves."""
        while True:
            message = await self._receive()
            while self._messages.full():
                self._room.clear()
                if not self._messages.full():
                    break
                await self._room.wait()
            self._messages.put_nowait(message)
            if message["type"] != "http.request" or not message.get("more_body", False):
                self.over.set()
                return

    def read(self, size: int) -> bytes:
        """Up to `size` bytes; b"" at the end of the body."""
        while not self._pending and self._more:
            message = self._messages.get()
            self._loop.call_soon_threadsafe(self._room.set)
            if message["type"] != "http.request":
                self._more = False
                raise RequestAborted("the client left before the body was whole")
            self._pending = message.get("body", b"")
            self._more = message.get("more_body", False)
        chunk, self._pending = self._pending[:size], self._pending[size:]
        return chunk


def streaming_uploads(app):
    """Wrap the Django ASGI app so blob upload views read their body from the connection."""

    async def wrapped(scope, receive, send):
        if not (
            scope["type"] == "http"
            and scope["method"] in _UPLOAD_METHODS
            and _UPLOAD_PATH.fullmatch(scope["path"])
        ):
            return await app(scope, receive, send)
        body = StreamedBody(receive, asyncio.get_running_loop())
        pump = asyncio.create_task(body.pump())
        try:
            return await app(
                {**scope, SCOPE_KEY: body}, receive_for_django(receive, body.over), send
            )
        finally:
            pump.cancel()

    return wrapped


def body_reader(request):
    """How a view reads its request's body: streamed for uploads, Django's otherwise."""
    body = getattr(request, "scope", {}).get(SCOPE_KEY)
    return body.read if body is not None else request.read
