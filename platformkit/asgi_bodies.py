"""Requests whose view reads the body from the connection itself (blob uploads, build contexts).

Django's ASGI handler reads a whole body into a spool file before it calls a view. A wrapper
that lets a view read the body as it arrives hands Django this receive instead.
"""

import asyncio
from collections.abc import Awaitable, Callable

Receive = Callable[[], Awaitable[dict]]


def receive_for_django(receive: Receive, over: asyncio.Event) -> Receive:
    """An empty body at once, so Django spools nothing; then, once the view's body is `over`,
    the connection's own messages, so Django still learns when the client leaves."""
    handed_empty_body = False

    async def received() -> dict:
        nonlocal handed_empty_body
        if not handed_empty_body:
            handed_empty_body = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await over.wait()
        return await receive()

    return received
