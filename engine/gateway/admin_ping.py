"""The node administrator's pings, answered before the app.

Every docker CLI command starts with `HEAD /_ping`. On the unix socket the caller is the
node's administrator, with no credential to check, and the answer never changes, so it needs
none of Django's request cycle, which was 1.3 ms of such a ping's 2.0 ms
(`python -m bench.engine_requests`). Any other ping goes on to the app: over TCP the caller
must authenticate, and an API version the engine does not speak gets the app's error.
"""

import re

from ..api.base import check_version
from ..api.routes import VERSION
from ..api.system import PING_HEADERS, ping_body
from ..errors import BadRequest
from .connection import ASGIApp

# The engine routes' optional `/v<version>/` prefix, as the ping route has it.
_PATH = re.compile("/" + VERSION.removeprefix("^") + "_ping")
_HEADERS = [(name.lower().encode(), value.encode()) for name, value in PING_HEADERS.items()]


def answer_admin_pings(app: ASGIApp) -> ASGIApp:
    async def serve(scope: dict, receive, send) -> None:
        if not _is_admin_ping(scope):
            await app(scope, receive, send)
            return
        body = ping_body(scope["method"])
        length = (b"content-length", str(len(body)).encode())
        await send({"type": "http.response.start", "status": 200, "headers": [*_HEADERS, length]})
        await send({"type": "http.response.body", "body": body})

    return serve


def _is_admin_ping(scope: dict) -> bool:
    if scope["type"] != "http" or scope.get("dockyard.transport") != "unix":
        return False
    match = _PATH.fullmatch(scope["path"])
    if match is None or scope["method"] not in ("GET", "HEAD"):
        return False
    try:
        check_version(match["version"])
    except BadRequest:
        return False
    return True
