"""Where a node's agent serves streams, and the credential that opens one over TCP.

On its own machine an agent listens on a unix socket in the run directory, which only root
reaches. An agent that other machines reach listens on TCP too and records the address in
its Node row; a stream opened there carries a token bound to that node, so a credential
taken from one node opens streams on no other.
"""

import asyncio
import hashlib
import hmac
import time
from pathlib import Path

from django.conf import settings

from ..models import Node
from ..nodes import is_down

TCP_PREFIX = "tcp://"
# Beside the agent's socket: where a client's own connection is handed to it (see `handoff`).
HANDOFF_SOCKET = "agent-fd.sock"


def agent_socket() -> Path:
    return settings.DOCKYARD_RUN_DIR / "agent.sock"


def handoff_socket() -> Path:
    return agent_socket().with_name(HANDOFF_SOCKET)


def node_token(node_name: str) -> str:
    key = settings.SECRET_KEY.encode()
    return hmac.new(key, f"agent-stream:{node_name}".encode(), hashlib.sha256).hexdigest()


def token_valid(node_name: str, token: object) -> bool:
    # A joined node has its own secret key: the control plane told it the token it uses.
    expected = settings.DOCKYARD_NODE_STREAM_TOKEN or node_token(node_name)
    return isinstance(token, str) and hmac.compare_digest(token, expected)


def split_tcp(address: str) -> tuple[str, int]:
    host, _, port = address.removeprefix(TCP_PREFIX).rpartition(":")
    return host.strip("[]"), int(port)


async def connect(node_name: str, limit: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A connection to the agent of `node_name`; `limit` is the reader's buffer size."""
    address = await _address(node_name)
    if address and address.startswith(TCP_PREFIX):
        return await asyncio.open_connection(*split_tcp(address), limit=limit)
    return await asyncio.open_unix_connection(str(agent_socket()), limit=limit)


# Node addresses change only when an agent starts; a lookup per stream cost a thread hop and
# a query, about a millisecond of every `docker logs`. A node's liveness is looked up with it.
ADDRESS_TTL = 5.0
_addresses: dict[str, tuple[float, str, str]] = {}


async def _lookup(node_name: str) -> tuple[str, str]:
    """(stream address, why the node cannot be reached or "")."""
    if node_name == settings.DOCKYARD_NODE:
        # This machine's own agent, on its unix socket; its node is never down (`is_down`).
        return "", ""
    now = time.monotonic()
    known = _addresses.get(node_name)
    if known is not None and known[0] > now:
        return known[1], known[2]
    node = await Node.objects.filter(name=node_name).afirst()
    address = node.stream_address if node else ""
    down = ""
    if node is not None and is_down(node):
        down = f"node {node_name} is {'revoked' if node.revoked else 'down (no heartbeat)'}"
    _addresses[node_name] = (now + ADDRESS_TTL, address, down)
    return address, down


async def _address(node_name: str) -> str:
    return (await _lookup(node_name))[0]


async def unreachable(node_name: str) -> str:
    """Why streams to `node_name` would fail at once ("" when it is up), so a request for a
    container on a node that went down fails fast instead of waiting for a connection."""
    return (await _lookup(node_name))[1]
