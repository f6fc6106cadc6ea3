"""Where a container's files live, the lock that serialises its state changes, and its spec.

Every container has a bundle directory (`paths.container(id)`) holding config.json,
spec.json, state.json, the overlay rootfs and conmon's log, attach socket and control fifos;
conmon writes its exit code to `exit_file(id)`, outside the bundle.
"""

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from runtime.containers.spec import ContainerSpec
from runtime.errors import NotFound
from runtime.paths import RuntimePaths


def exits_dir(paths: RuntimePaths) -> Path:
    return paths.root / "exits"


def exit_file(paths: RuntimePaths, cid: str) -> Path:
    return exits_dir(paths) / cid


def bundle(paths: RuntimePaths, cid: str) -> Path:
    return paths.container(cid)


def rootfs(paths: RuntimePaths, cid: str) -> Path:
    return paths.container(cid) / "rootfs"


def log_path(paths: RuntimePaths, cid: str) -> Path:
    return paths.container(cid) / "container.log"


def rotated(log: Path, n: int) -> Path:
    """The n-th newest file rotated away from `log`."""
    return log.with_name(f"{log.name}.{n}")


@contextmanager
def locked(paths: RuntimePaths, cid: str, wait: bool = True) -> Iterator[bool]:
    """Serialises state changes of one container across threads and processes.

    Yields whether the lock is held: always with `wait`; without, False when someone else
    holds it, for work that can as well be done at its next round.
    """
    try:
        fd = os.open(paths.container(cid) / ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except FileNotFoundError:
        raise NotFound(f"No such container: {cid}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


def load_spec(paths: RuntimePaths, cid: str) -> ContainerSpec:
    try:
        data = json.loads((paths.container(cid) / "spec.json").read_text())
    except FileNotFoundError:
        raise NotFound(f"No such container: {cid}") from None
    return ContainerSpec.from_dict(data)
