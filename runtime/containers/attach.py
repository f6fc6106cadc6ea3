"""Stdin and terminal size of a running container, through conmon's attach socket and ctl fifo.

Output is not read here: attach output comes from the log (see logs.follow_output), so
nothing written between an attach and the start is lost.
"""

import errno
import os
import socket
import threading
import time

from runtime.containers.lifecycle import bundle
from runtime.containers.state import load_state
from runtime.errors import Conflict, RuntimeFailure
from runtime.paths import RuntimePaths

# conmon reads at most this much per packet from the attach socket.
PACKET = 32 * 1024
CTL_RESIZE = 1


def _drain(sock: socket.socket) -> None:
    """conmon also copies output to attach clients and blocks if nobody reads it."""
    try:
        while sock.recv(PACKET + 1):
            pass
    except OSError:
        pass


def open_stdin(paths: RuntimePaths, cid: str, timeout: float = 10.0) -> socket.socket:
    """Connect to the container's stdin, waiting up to `timeout` for conmon to listen."""
    state = load_state(paths, cid)
    if not state.open_stdin:
        raise Conflict(f"container {cid} was not created with an open stdin")
    b = bundle(paths, cid)
    deadline = time.monotonic() + timeout
    delay = 0.002
    while True:
        dirfd = os.open(b, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            # Through /proc/self/fd: the bundle path may exceed the 108-byte socket limit.
            sock.connect(f"/proc/self/fd/{dirfd}/attach")
            break
        except OSError as err:
            sock.close()
            if err.errno not in (errno.ENOENT, errno.ECONNREFUSED):
                raise RuntimeFailure(f"cannot attach to container {cid}: {err}") from None
            if time.monotonic() >= deadline:
                raise RuntimeFailure(f"container {cid} is not accepting input") from None
            time.sleep(delay)
            delay = min(delay * 2, 0.05)
        finally:
            os.close(dirfd)
    threading.Thread(target=_drain, args=(sock,), daemon=True, name=f"attach-{cid[:12]}").start()
    return sock


def write_stdin(sock: socket.socket, data: bytes) -> None:
    view = memoryview(data)
    for start in range(0, len(view), PACKET):
        sock.sendall(view[start : start + PACKET])


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
