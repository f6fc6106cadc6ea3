"""How Dockyard calls crun: its binary, its state root, its commands.

crun guards the host binary against containers that could write to it through
/proc/self/exe (CVE-2019-5736): unless the running binary is already a sealed copy, every
call copies itself and executes the copy, which loads crun twice. Each process here seals
one in-memory copy and runs that instead; it is as safe, and every crun call is one exec
shorter (about 2 ms of each container start).
"""

import fcntl
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

from runtime.errors import RuntimeFailure
from runtime.paths import RuntimePaths

INSTALLED = shutil.which("crun") or "/usr/bin/crun"
_MEMFD_NAME = "crun"
# How long a start waits for the init to exec its command; past it the start still counts.
_EXEC_GRACE = 2.0
_SEALS = fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE
_sealed: int | None = None
_sealing = threading.Lock()


def binary_fd() -> int:
    """The sealed copy of crun; children that run it must be given this fd (pass_fds)."""
    global _sealed
    with _sealing:
        if _sealed is None:
            _sealed = _sealed_copy(INSTALLED)
        return _sealed


def _sealed_copy(path: str) -> int:
    fd = os.memfd_create(_MEMFD_NAME, os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    try:
        with open(path, "rb") as f:
            size, sent = os.fstat(f.fileno()).st_size, 0
            while sent < size:
                copied = os.sendfile(fd, f.fileno(), sent, size - sent)
                if not copied:
                    raise RuntimeFailure(f"{path} changed while it was being copied")
                sent += copied
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, _SEALS)
    except BaseException:
        os.close(fd)
        raise
    return fd


def binary() -> str:
    """The path to exec, valid in a child given binary_fd() at the same number."""
    return f"/proc/self/fd/{binary_fd()}"


def state_root(paths: RuntimePaths) -> Path:
    return paths.run / "crun"


def command(paths: RuntimePaths, *args: str) -> list[str]:
    return [binary(), "--root", str(state_root(paths)), *args]


def run(paths: RuntimePaths, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        command(paths, *args),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        close_fds=True,
        pass_fds=(binary_fd(),),
    )
    if check and proc.returncode != 0:
        raise RuntimeFailure(message(proc.stderr) or f"crun {args[0]} failed")
    return proc


def message(stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def start(paths: RuntimePaths, cid: str, pid: int) -> None:
    """What `crun start` does, without a process: release the created container.

    The container's init blocks reading exec.fifo in crun's state directory until one byte
    is written; the fifo's absence is what tells crun the container has started.
    Returns once the init runs the container's command.
    """
    fifo = state_root(paths) / cid / "exec.fifo"
    try:
        # Non-blocking: an init that is already gone has no reader, and then open fails
        # at once (ENXIO) instead of waiting for one.
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as e:
        raise RuntimeFailure(f"cannot start container {cid}: {e.strerror}") from None
    try:
        fifo.unlink()
        os.write(fd, b"\0")
    finally:
        os.close(fd)
    _await_exec(pid)


def _await_exec(pid: int) -> None:
    """Wait until the released init has left crun for the container's command.

    Until that exec the process is still crun, holding crun's descriptors, so a `top` or an
    `exec` right after the start would meet crun instead of the command.
    """
    deadline = time.monotonic() + _EXEC_GRACE
    while time.monotonic() < deadline:
        try:
            if not os.readlink(f"/proc/{pid}/exe").startswith(f"/memfd:{_MEMFD_NAME}"):
                return
        except OSError:
            return  # the init is gone already; conmon reports how it ended
        time.sleep(0.0005)


def forget(paths: RuntimePaths, cid: str, init_exited: bool = False) -> None:
    """Drop crun's record of the container.

    Once conmon has reaped the init process, that record is only files: removing them here
    saves a `crun delete` process (its cgroup cleanup is done by cgroups.remove anyway).
    """
    state_dir = state_root(paths) / cid
    if not state_dir.exists():
        return
    if init_exited:
        shutil.rmtree(state_dir, ignore_errors=True)
    else:
        run(paths, "delete", "--force", cid, check=False)
