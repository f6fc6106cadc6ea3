"""The byte protocol between the API side and a node agent: one connection per stream.

Every message is a frame: Docker's 8-byte stdcopy header (kind, three zero bytes, big-endian
length) and its payload. Kinds 0-2 are stdin, stdout and stderr, so an agent's output frames
are already the multiplexed stream the docker CLI reads, and a relay forwards them unchanged.
The other kinds carry JSON and never reach a client:

- OPEN (client -> agent, first frame): {"kind", "args", "token"}
- READY (agent -> client): the stream runs; data frames follow. On the agent's unix socket
  its payload is {"key"}: what the client names when it hands the agent its own client's
  connection (see `handoff`)
- END / ERROR (agent -> client, last frame): {"result"} / {"status", "message"}
- EOF / RESIZE (client -> agent): stdin is closed / {"h", "w"}
- DETACH (client -> agent): the client left with its detach keys; what it attached to or
  started goes on without it, where a plain hang-up would end an exec
- HANDED (agent -> client): after a hand-off, the output goes on on the connection handed
  over once the client says (on the hand-off socket) that what it relayed before has left

A client that closes the connection cancels the stream. Nothing is buffered beyond the
sockets and a few frames in flight, so a slow reader slows the writer down: the agent waits
to send, and stops reading the container while it waits.
"""

import json
import struct
from asyncio import StreamReader, StreamWriter
from typing import Any

STDIN, STDOUT, STDERR = 0, 1, 2
OPEN, READY, END, ERROR, HANDED = 0x10, 0x11, 0x12, 0x13, 0x14
EOF, RESIZE, DETACH = 0x20, 0x21, 0x22

HEADER = struct.Struct(">BxxxL")
# The largest payload a peer accepts: a bound on what one frame can make the other side hold.
MAX_PAYLOAD = 4 * 1024 * 1024
# What a connection's reader holds before it stops reading the socket (asyncio pauses at twice
# this): with the kernel's buffers, what a stream keeps in flight while its reader is behind.
# A frame larger than this is still read whole.
READ_LIMIT = 256 * 1024


class ProtocolError(Exception):
    """The peer sent something that is not a frame of this protocol."""


def frame(kind: int, payload: bytes) -> bytes:
    return HEADER.pack(kind, len(payload)) + payload


def control(kind: int, value: Any) -> bytes:
    return frame(kind, json.dumps(value).encode())


async def read_frame(reader: StreamReader) -> tuple[int, bytes] | None:
    """The next frame, or None when the peer closed the connection between frames."""
    try:
        head = await reader.readexactly(HEADER.size)
    except EOFError as e:
        if e.partial:
            raise ProtocolError("the connection ended inside a frame header") from None
        return None
    kind, size = HEADER.unpack(head)
    if size > MAX_PAYLOAD:
        raise ProtocolError(f"a frame of {size} bytes is larger than {MAX_PAYLOAD}")
    try:
        return kind, await reader.readexactly(size)
    except EOFError:
        raise ProtocolError("the connection ended inside a frame") from None


def decode(payload: bytes) -> Any:
    try:
        return json.loads(payload)
    except ValueError:
        raise ProtocolError("a control frame that is not JSON") from None


async def send(writer: StreamWriter, data: bytes) -> None:
    writer.write(data)
    await writer.drain()
