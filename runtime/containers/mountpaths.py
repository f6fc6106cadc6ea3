"""Where a container path lives for `docker cp`: in its rootfs, or in a volume or bind mount.

The host's overlay mount of a rootfs has none of the container's volumes on it (crun mounts
them in the container's own mount namespace), and every read of runtime.safefs refuses to
cross a mount. So, as Docker's daemon does for `docker cp`, a path is matched against the
container's mount destinations first: below one, it is resolved inside the mount's source
directory taken as the root.

Symlinks are followed as the container sees them, across its rootfs and mounts: `real_path`
reads them one at a time, each through an fd opened without following it, and turns the
path into the one with no symlink in it, a missing name being kept as it is (Docker's
FollowSymlinkInScope). Only then is the place chosen and the path opened, within that place
alone: a symlink swapped in meanwhile leads at most to the top of the volume or rootfs it
is in, never to the host.
"""

import errno
import os
import posixpath
import stat
from dataclasses import dataclass
from pathlib import Path

from runtime import safefs
from runtime.containers.ocimounts import ETC_FILES
from runtime.containers.spec import ContainerSpec


@dataclass(frozen=True)
class MountPoint:
    destination: str
    source: str
    readonly: bool


@dataclass
class Place:
    """Where a path resolves: `path` below the directory `root_fd` (owned by the place)."""

    root_fd: int
    path: str
    readonly: bool
    in_mount: bool

    def close(self) -> None:
        os.close(self.root_fd)


def mount_points(spec: ContainerSpec) -> list[MountPoint]:
    """The container's own /etc files, binds and volumes; its tmpfs mounts have no directory
    on the host."""
    found = []
    if spec.etc_dir:
        for name in ETC_FILES:
            found.append(MountPoint(f"/etc/{name}", str(Path(spec.etc_dir) / name), False))
    for bind in spec.binds:
        parts = bind.split(":")
        if len(parts) in (2, 3):
            options = parts[2].split(",") if len(parts) == 3 else []
            found.append(MountPoint(posixpath.normpath(parts[1]), parts[0], "ro" in options))
    for mount in spec.mounts:
        destination = posixpath.normpath(str(mount.get("destination", "")))
        if mount.get("source") and destination.startswith("/"):
            found.append(MountPoint(destination, mount["source"], bool(mount.get("readonly"))))
    return found


def mount_for(mounts: list[MountPoint], path: str) -> MountPoint | None:
    """The mount `path` (normalised, absolute) lies in: the deepest one holding it."""
    best = None
    for m in mounts:
        inside = path == m.destination or path.startswith(m.destination.rstrip("/") + "/")
        if inside and (best is None or len(m.destination) >= len(best.destination)):
            best = m
    return best


def _file_place(source: Path) -> tuple[int, str]:
    try:
        return safefs.open_root(source.parent), "/" + source.name
    except OSError:
        return -1, ""


def place_of(rootfs_fd: int, mounts: list[MountPoint], path: str) -> Place:
    """The place of the normalised container `path`, found by name alone. A bind of one file
    is the file's name in its directory, and holds nothing below it."""
    mount = mount_for(mounts, path)
    if mount is not None:
        source = Path(mount.source)
        try:
            root = safefs.open_root(source)
            rest = "/" + path[len(mount.destination) :].lstrip("/")
        except NotADirectoryError:
            root, rest = _file_place(source) if path == mount.destination else (-1, "")
        except OSError:
            root = -1
        if root >= 0:
            return Place(root, rest, mount.readonly, True)
    return Place(os.dup(rootfs_fd), path, False, False)


# Linux's limit on symlinks followed in one lookup.
MAX_SYMLINKS = 40


def _symlink_at(rootfs_fd: int, mounts: list[MountPoint], path: str) -> str | None:
    """The target of `path` if it is a symlink (its directories have none); else None."""
    place = place_of(rootfs_fd, mounts, path)
    try:
        fd = safefs.resolve(place.root_fd, place.path)
    except OSError:
        return None
    finally:
        place.close()
    try:
        return safefs.readlink(fd) if stat.S_ISLNK(os.fstat(fd).st_mode) else None
    except OSError:
        return None
    finally:
        os.close(fd)


def real_path(rootfs_fd: int, mounts: list[MountPoint], path: str, follow_last: bool) -> str:
    """`path` with every symlink on the way followed in the container's view (the last one
    only if `follow_last`); names that do not exist are kept as they are."""
    parts = path.split("/")
    done: list[str] = []
    followed = 0
    while parts:
        name = parts.pop(0)
        if name in ("", "."):
            continue
        if name == "..":
            done = done[:-1]
            continue
        done.append(name)
        if not follow_last and not any(p not in ("", ".") for p in parts):
            break
        target = _symlink_at(rootfs_fd, mounts, "/" + "/".join(done))
        if target is None:
            continue
        followed += 1
        if followed > MAX_SYMLINKS:
            raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), path)
        done = [] if target.startswith("/") else done[:-1]
        parts = target.split("/") + parts
    return "/" + "/".join(done)
