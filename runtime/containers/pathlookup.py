"""Finding a path a user names inside a container: the place that holds it (the rootfs, or
a volume or bind mount as the container sees it, runtime.containers.mountpaths), an O_PATH
fd of it there, and where a symlink in it leads.

The path resolves inside that place's root with openat2(RESOLVE_IN_ROOT) (runtime.safefs
explains why this and not a namespace-joining child), so a symlink the container planted
never leads out of it (CVE-2018-15664).
"""

import errno
import os
import posixpath

from runtime import safefs
from runtime.containers.layout import load_spec, rootfs
from runtime.containers.lifecycle import remount
from runtime.containers.mountpaths import Place, mount_points, place_of, real_path
from runtime.containers.state import load_state
from runtime.errors import InvalidInput, NotFound
from runtime.paths import RuntimePaths


def container_path(path: str) -> str:
    if not path:
        raise InvalidInput("path must not be empty")
    return path if path.startswith("/") else "/" + path


def _open_rootfs(paths: RuntimePaths, cid: str) -> int:
    """An O_PATH fd of the container's rootfs mount, the root every read resolves in."""
    load_state(paths, cid)
    remount(paths, cid)
    return safefs.open_root(rootfs(paths, cid))


def _resolve(root_fd: int, path: str, follow_last: bool = False) -> int:
    try:
        return safefs.resolve(root_fd, path, follow_last)
    except OSError as err:
        if err.errno in (errno.ENOENT, errno.ENOTDIR, errno.EXDEV):
            raise NotFound(f"Could not find the file {path} in container") from None
        if err.errno == errno.ELOOP:
            raise InvalidInput(f"{path}: too many levels of symbolic links") from None
        raise


def open_place(
    paths: RuntimePaths, cid: str, path: str, follow_last: bool = False
) -> tuple[Place, int]:
    """The place `path` lives in (the rootfs, or a mount of the container) and an O_PATH fd
    of it there; the caller closes both."""
    rootfs_fd = _open_rootfs(paths, cid)
    try:
        mounts = mount_points(load_spec(paths, cid))
        real = path
        if mounts:
            try:
                real = real_path(rootfs_fd, mounts, path, follow_last or path.endswith("/"))
            except OSError as err:
                if err.errno != errno.ELOOP:
                    raise
                raise InvalidInput(f"{path}: too many levels of symbolic links") from None
        place = place_of(rootfs_fd, mounts, real) if mounts else None
        if place is None:
            place = Place(os.dup(rootfs_fd), path, False, False)
        try:
            return place, _resolve(place.root_fd, place.path, follow_last)
        except NotFound:
            place.close()
            raise NotFound(f"Could not find the file {path} in container") from None
        except BaseException:
            place.close()
            raise
    finally:
        os.close(rootfs_fd)


def link_target_of(paths: RuntimePaths, cid: str, path: str) -> str:
    """Where the symlink `path` leads in the container, volumes and binds included."""
    rootfs_fd = _open_rootfs(paths, cid)
    try:
        mounts = mount_points(load_spec(paths, cid))
        if not mounts:
            return _link_target(rootfs_fd, path)
        try:
            return real_path(rootfs_fd, mounts, path, follow_last=True)
        except OSError:
            return posixpath.normpath(path)
    finally:
        os.close(rootfs_fd)


def _in_container(root_fd: int, fd: int) -> str:
    """The container path of an fd resolved under `root_fd`."""
    root, where = safefs.host_path(root_fd), safefs.host_path(fd)
    if where == root:
        return "/"
    return where[len(root) :] if where.startswith(root + "/") else ""


def _link_target(root_fd: int, path: str) -> str:
    """Where the symlink `path` leads in the container, like realpath(): resolved whole
    when it can be, else (a dangling link) its target joined to its resolved directory."""
    try:
        fd = safefs.resolve(root_fd, path, follow_last=True)
    except OSError:
        parent, name = posixpath.split(path.rstrip("/"))
        try:
            fd = safefs.resolve(root_fd, parent or "/", follow_last=True)
        except OSError:
            return posixpath.normpath(path)
        try:
            base = _in_container(root_fd, fd)
            target = os.readlink(name, dir_fd=fd)
        except OSError:
            return posixpath.normpath(path)
        finally:
            os.close(fd)
        return posixpath.normpath(posixpath.join(base, target))
    try:
        return _in_container(root_fd, fd)
    finally:
        os.close(fd)
