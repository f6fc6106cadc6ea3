"""What a view asks for when it hijacks, and what the client is answered.

A view answers 101 with the header `x-dockyard-hijack`: a JSON object the gateway hands, with
the raw connection, to the hijack handler. An optional `x-dockyard-hijack-content-type` replaces
the raw-stream media type in a 101 answer, as Docker does for multiplexed streams.
"""

import json
from typing import Any

HIJACK_HEADER = b"x-dockyard-hijack"
CONTENT_TYPE_HEADER = b"x-dockyard-hijack-content-type"
RAW_STREAM = b"application/vnd.docker.raw-stream"


def hijack_settings(headers: list) -> tuple[dict[str, Any], bytes]:
    """The handler's spec and the content type from a 101 response's headers."""
    spec_raw = None
    content_type = RAW_STREAM
    for name, value in headers:
        name = bytes(name).lower()
        if name == HIJACK_HEADER:
            spec_raw = bytes(value)
        elif name == CONTENT_TYPE_HEADER:
            content_type = bytes(value)
    if spec_raw is None:
        raise ValueError("a 101 response without the x-dockyard-hijack header")
    try:
        spec = json.loads(spec_raw)
    except ValueError as exc:
        raise ValueError(f"x-dockyard-hijack is not JSON: {exc}") from None
    if not isinstance(spec, dict):
        raise ValueError("x-dockyard-hijack must be a JSON object")
    return spec, content_type


def hijack_head(upgrade: bytes | None, content_type: bytes) -> bytes:
    """The response head the docker CLI and docker-py wait for before the raw stream.

    Clients that asked to upgrade (`Upgrade: tcp` for attach and exec) get 101 naming the
    protocol they asked for; older ones a 200 whose body is the stream, so the connection is
    not kept alive.
    """
    if upgrade is not None:
        return (
            b"HTTP/1.1 101 UPGRADED\r\nContent-Type: " + content_type + b"\r\n"
            b"Connection: Upgrade\r\nUpgrade: " + upgrade + b"\r\n\r\n"
        )
    return b"HTTP/1.1 200 OK\r\nContent-Type: " + RAW_STREAM + b"\r\nConnection: close\r\n\r\n"
