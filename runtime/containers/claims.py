"""Attach claims: a start waits until every client attached before it is connected.

conmon copies output only to attach clients connected at the time, and replays nothing. An
attach made before a start (as `docker run` and `docker start -a` do) leaves a claim file in
the bundle; `lifecycle.start` spawns conmon, which opens the attach socket, then waits for
each claim to be withdrawn before it lets the container run. The claimant withdraws its claim
once it is connected, or when it gives up. A claim whose process is gone holds up nothing.
"""

import os
import time
import uuid
from pathlib import Path

from inotify_simple import flags

from runtime.containers.watching import watching
from runtime.paths import RuntimePaths


def claims_dir(paths: RuntimePaths, cid: str) -> Path:
    return paths.container(cid) / "attach-claims"


class Claim:
    """One attach's claim on the next start of a container."""

    def __init__(self, path: Path):
        self.path = path

    def withdraw(self) -> None:
        self.path.unlink(missing_ok=True)


def register(paths: RuntimePaths, cid: str) -> Claim:
    directory = claims_dir(paths, cid)
    directory.mkdir(exist_ok=True)
    path = directory / f"{os.getpid()}.{uuid.uuid4().hex}"
    path.touch(exist_ok=False)
    return Claim(path)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _pending(directory: Path) -> list[Path]:
    """Claims still held by a live process; those of dead ones are removed."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    pending = []
    for name in names:
        pid = name.partition(".")[0]
        if pid.isdigit() and _alive(int(pid)):
            pending.append(directory / name)
        else:
            (directory / name).unlink(missing_ok=True)
    return pending


def wait_withdrawn(paths: RuntimePaths, cid: str, timeout: float) -> bool:
    """Wait until no live claim is left; False if some still were after `timeout`."""
    directory = claims_dir(paths, cid)
    if not _pending(directory):
        return True
    deadline = time.monotonic() + timeout
    with watching((directory, flags.DELETE | flags.MOVED_FROM)) as inotify:
        while _pending(directory):
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            # Also wakes now and then to notice a claimant that died without withdrawing.
            inotify.read(timeout=int(min(left, 0.5) * 1000))
    return True
