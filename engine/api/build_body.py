"""The build context reaches the build view while the client sends it.

Django reads a whole request body into a spool file before it calls a view: a 100 MB
context would cross the disk twice before the node saw a byte of it. For `POST /build` this
ASGI wrapper gives Django an empty body and hands the (async) view the connection's own
messages, which it gathers into frames for the node on the event loop, without a thread
switch per message: the node unpacks the context while the client is still sending it.
"""

import asyncio
import re
from collections.abc import AsyncIterator

from django.core.exceptions import RequestAborted

from platformkit.asgi_bodies import receive_for_django

SCOPE_KEY = "dockyard.build_body"
BUILD_PATH = re.compile(r"(?:/v[0-9.]+)?/build")


class StreamedBody:
    """A request body the view reads from the connection, on the server's loop."""

    def __init__(self, receive) -> None:
        self._receive = receive
        # Set once the body is over: only then may Django listen for the client leaving.
        self.over = asyncio.Event()

    async def chunks(self, size: int) -> AsyncIterator[bytes]:
        """The body in pieces of at least `size` bytes (the last one may be shorter)."""
        pending = bytearray()
        try:
            while True:
                message = await self._receive()
                if message["type"] != "http.request":
                    raise RequestAborted("the client left before the body was whole")
                pending += message.get("body", b"")
                more = message.get("more_body", False)
                if pending and (len(pending) >= size or not more):
                    yield bytes(pending)
                    pending.clear()
                if not more:
                    return
        finally:
            self.over.set()


def streamed_build_bodies(app):
    """Wrap the Django ASGI app so the build view reads its body from the connection."""

    async def wrapped(scope, receive, send):
        if not (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and BUILD_PATH.fullmatch(scope["path"])
        ):
            return await app(scope, receive, send)
        body = StreamedBody(receive)
        return await app({**scope, SCOPE_KEY: body}, receive_for_django(receive, body.over), send)

    return wrapped


async def body_chunks(request, size: int) -> AsyncIterator[bytes]:
    """The request's body in pieces of about `size` bytes: streamed when the wrapper is in
    place, else read from Django's spool."""
    body = getattr(request, "scope", {}).get(SCOPE_KEY)
    if body is not None:
        async for chunk in body.chunks(size):
            yield chunk
        return
    while chunk := await asyncio.to_thread(request.read, size):
        yield chunk
