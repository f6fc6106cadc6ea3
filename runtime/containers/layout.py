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


@contextmanager
def locked(paths: RuntimePaths, cid: str) -> Iterator[None]:
    """Serialises state changes of one container across threads and processes."""
    try:
        fd = os.open(paths.container(cid) / ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except FileNotFoundError:
        raise NotFound(f"No such container: {cid}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def load_spec(paths: RuntimePaths, cid: str) -> ContainerSpec:
    try:
        data = json.loads((paths.container(cid) / "spec.json").read_text())
    except FileNotFoundError:
        raise NotFound(f"No such container: {cid}") from None
    return ContainerSpec.from_dict(data)
