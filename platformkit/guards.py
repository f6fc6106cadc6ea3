"""ASGI wrappers that refuse a request before the app reads any of it.

`allowed_origins` closes a websocket handshake whose Origin is not the dashboard's own
(browsers send the Origin of the page that opens a socket, and a page served from one of
a container's published ports is another origin even on the same host). Channels' own
AllowedHostsOriginValidator goes by ALLOWED_HOSTS, which is `*` here so that the Engine API
and the registry answer under any name; and it compares host names without ports.

`limit_anonymous_bodies` refuses a large body from a caller without valid credentials
before a byte of it is read: Django spools a whole body to disk before routing, so
otherwise anyone could fill the disk with one request.
"""

import json
from collections.abc import Awaitable, Callable, Iterable
from urllib.parse import urlsplit

Scope = dict
Identify = Callable[[Scope], Awaitable[bool]]

# Close code of a refused handshake: servers answer the upgrade with 403; test clients and
# browsers that get as far as the app see the code, in the 4000 range the pages use.
DENIED = 4403
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def _host_port(entry: str, default_port: int) -> tuple[str, int] | None:
    """("host", port) of `host`, `host:port`, `[v6]` or `[v6]:port`; None if malformed."""
    try:
        parts = urlsplit(f"//{entry.strip()}")
        return (parts.hostname or "").lower(), parts.port or default_port
    except ValueError:
        return None


def origin_allowed(origin: str, allowed_hosts: Iterable[str]) -> bool:
    """Whether a browser Origin (scheme://host[:port]) names one of `allowed_hosts`."""
    try:
        parts = urlsplit(origin)
        port = parts.port
    except ValueError:
        return False
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        return False
    default = _DEFAULT_PORTS[parts.scheme]
    wanted = (parts.hostname.lower(), port or default)
    return any(_host_port(entry, default) == wanted for entry in allowed_hosts)


def allowed_origins(app, allowed_hosts: Callable[[], Iterable[str]]):
    """Refuse websocket handshakes from other origins with DENIED, before accepting them.

    A handshake without an Origin header comes from no browser page (browsers always send
    one), so no visitor's cookies can be lent to it by another site; it is let through to
    the consumers, which still require a signed-in session.
    """

    async def guarded(scope, receive, send):
        if scope["type"] == "websocket":
            origin = _header(scope, b"origin")
            if origin is not None and not origin_allowed(origin, allowed_hosts()):
                await receive()  # websocket.connect
                await send({"type": "websocket.close", "code": DENIED})
                return
        return await app(scope, receive, send)

    return guarded


def _declared_size(scope: Scope) -> int | None:
    """The body's announced size: 0 for none, None when it comes chunked or malformed."""
    length = _header(scope, b"content-length")
    if length is not None:
        return int(length) if length.strip().isdigit() else None
    encoding = (_header(scope, b"transfer-encoding") or "").lower()
    return None if "chunked" in encoding else 0


async def _refuse(send, status: int, message: str, headers: list | None = None) -> None:
    body = json.dumps({"message": message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def limit_anonymous_bodies(app, limit: Callable[[], int], identify: Identify, exempt=None):
    """Let a body over `limit()` bytes through only when `identify(scope)` knows the caller.

    A caller who sent no credentials gets 413 and one whose credentials fail gets 401, both
    before the body is read. A chunked body of unknown size from an unknown caller is read
    into memory up to the limit and refused with 413 once it goes past it. `exempt(scope)`
    names requests that need no check (the node's own unix socket).
    """

    async def guarded(scope, receive, send):
        if scope["type"] != "http" or (exempt is not None and exempt(scope)):
            return await app(scope, receive, send)
        size, most = _declared_size(scope), limit()
        if size is not None and size <= most:
            return await app(scope, receive, send)
        if await identify(scope):
            return await app(scope, receive, send)
        if _header(scope, b"authorization") is not None:
            return await _refuse(send, 401, "invalid credentials")
        refused = f"a request body over {most} bytes needs credentials: sign in or use a token"
        if size is not None:
            return await _refuse(send, 413, refused)
        buffered, total = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return
            chunk = message.get("body", b"")
            total += len(chunk)
            if total > most:
                return await _refuse(send, 413, refused)
            buffered.append(chunk)
            if not message.get("more_body", False):
                break
        replay = [{"type": "http.request", "body": b"".join(buffered), "more_body": False}]

        async def receive_replayed():
            return replay.pop() if replay else await receive()

        return await app(scope, receive_replayed, send)

    return guarded
