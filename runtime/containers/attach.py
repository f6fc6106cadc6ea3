"""Attach to a container's stdio through conmon's attach socket, and resize its terminal.

The socket is SOCK_SEQPACKET. conmon sends each read of the container's stdout or stderr to
every connected client as one packet, a stream byte and up to 8192 bytes, and blocks until
the client takes it: a slow client slows the container, nothing is dropped. Input is sent as
packets too, which conmon reads at most `INPUT_PACKET` bytes at a time. conmon replays no
output, so an attach made before a start connects before the container runs (see `claims`);
after the container exits, conmon sends what is left in its pipes and closes the socket.
"""

import errno
import os
import socket
import threading

from inotify_simple import flags

from runtime.containers import claims
from runtime.containers.layout import bundle
from runtime.containers.watching import watching
from runtime.errors import Conflict, RuntimeFailure
from runtime.paths import RuntimePaths

# A stream byte and conmon's 8192-byte read buffer; a smaller receive truncates the packet.
OUTPUT_PACKET = 8192 + 1
INPUT_PACKET = 32 * 1024
# conmon's stream bytes, as Docker's stdcopy stream numbers.
STREAMS = {2: 1, 3: 2}
CTL_RESIZE = 1
# Longest wait between tries while the socket is there but refuses (a conmon that is gone).
_RETRY_MAX = 0.1


def _try_connect(paths: RuntimePaths, cid: str) -> socket.socket | None:
    try:
        dirfd = os.open(bundle(paths, cid), os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise Conflict(f"container {cid} is gone") from None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
    try:
        # Through /proc/self/fd: the bundle path may exceed the 108-byte socket limit.
        sock.connect(f"/proc/self/fd/{dirfd}/attach")
        return sock
    except OSError as err:
        sock.close()
        if err.errno in (errno.ENOENT, errno.ECONNREFUSED):
            return None
        raise RuntimeFailure(f"cannot attach to container {cid}: {err}") from None
    finally:
        os.close(dirfd)


def connect(
    paths: RuntimePaths, cid: str, claim: claims.Claim, stop: threading.Event
) -> socket.socket | None:
    """Connect to the running container, or to its next start; None if `stop` is set first.

    The claim is withdrawn once connected (or on giving up), which lets a waiting start go on.
    """
    try:
        with watching((bundle(paths, cid), flags.CREATE | flags.MOVED_TO)) as inotify:
            retry = 0.002
            while not stop.is_set():
                sock = _try_connect(paths, cid)
                if sock is not None:
                    return sock
                events = inotify.read(timeout=int(retry * 1000))
                retry = 0.002 if events else min(retry * 2, _RETRY_MAX)
            return None
    finally:
        claim.withdraw()


def write_stdin(sock: socket.socket, data: bytes) -> None:
    view = memoryview(data)
    for start in range(0, len(view), INPUT_PACKET):
        sock.sendall(view[start : start + INPUT_PACKET])


def close_stdin(sock: socket.socket) -> None:
    """Signal EOF: conmon closes the container's stdin when it was opened with stdin_once."""
    try:
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def resize(paths: RuntimePaths, cid: str, height: int, width: int) -> None:
    ctl = bundle(paths, cid) / "ctl"
    try:
        fd = os.open(ctl, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as err:
        raise Conflict(f"container {cid} is not running") from err
    try:
        os.write(fd, f"{CTL_RESIZE} {int(height)} {int(width)}\n".encode())
    finally:
        os.close(fd)
