"""A hijacked client's own connection handed to the agent on its node: output skips a relay.

A stream's output otherwise crosses two relays (agent -> gateway -> client), each an event
loop pass and a copy of every byte. When the agent runs on the gateway's machine and the
client's connection is a plain socket (not TLS, whose bytes only the gateway can encrypt),
the gateway sends that socket to the agent with SCM_RIGHTS, as a datagram on the agent's
hand-off socket naming the stream's key (from READY). Before its next output the agent sends
HANDED on the stream; the gateway writes out what it relayed before, and says so with a
second datagram (on this socket, so that input the agent is slow to read cannot hold it
back); then the agent writes Docker's frames to the client itself. Input, detach keys and
hang-ups stay with the gateway, which still reads the client. A hand-off that cannot be sent
changes nothing: the stream goes on through the gateway.
"""

import array
import json
import socket

from . import endpoints


def offer(key: str, client: socket.socket, tty: bool) -> bool:
    """Hand `client` to the agent for the stream `key`; False if it could not be sent."""
    rights = (socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [client.fileno()]))
    return _send({"key": key, "tty": tty}, [rights])


def flushed(key: str) -> bool:
    """Tell the agent that the stream's relayed output has left; blocks while its queue is
    full, so call it off the event loop."""
    return _send({"key": key}, [], blocking=True)


def _send(message: dict, ancillary: list, blocking: bool = False) -> bool:
    payload = json.dumps(message).encode()
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as door:
        door.setblocking(blocking)
        try:
            # Not socket.send_fds: it ignores its address.
            door.sendmsg([payload], ancillary, 0, str(endpoints.handoff_socket()))
        except OSError:
            return False
    return True


def plain_socket(transport) -> socket.socket | None:
    """The socket under a client's transport, unless TLS (or nothing) is in between."""
    if transport.get_extra_info("sslcontext") or transport.get_extra_info("ssl_object"):
        return None
    sock = transport.get_extra_info("socket")
    if sock is None or sock.family not in (socket.AF_UNIX, socket.AF_INET, socket.AF_INET6):
        return None
    return sock
