"""`docker cp`: stat, read and write container paths as tar streams.

A path in a volume or bind mount of the container is read and written in that mount's
directory, as the container sees it (runtime.containers.mountpaths).

Reads (stat, `docker cp` out, `docker export`, the dashboard's file browser) resolve the
path a user names inside the container's root with openat2(RESOLVE_IN_ROOT) and walk below
it one fd-relative component at a time without following symlinks, reading only inodes
fstat called regular files (runtime.safefs explains why this and not a namespace-joining
child). A running container that swaps a directory for a symlink to the host, or a file for
a device node or FIFO, mid-read therefore gets its own symlink, device or FIFO back as a tar
header, never host content (CVE-2018-15664).

Writes (`docker cp` in) happen in a forked child chrooted into the container's rootfs
mount or the mount's directory (runtime.containers.extract).
"""

import errno
import os
import posixpath
import stat
import tarfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass

from runtime import safefs
from runtime.containers.extract import extract_into
from runtime.containers.layout import load_spec, rootfs
from runtime.containers.lifecycle import remount
from runtime.containers.mountpaths import Place, mount_points, place_of, real_path
from runtime.containers.state import load_state
from runtime.errors import Forbidden, InvalidInput, NotFound
from runtime.layers.tarstream import TarStream
from runtime.paths import RuntimePaths

CHUNK = 64 * 1024

# Go's os.FileMode type bits, as Docker sends them in X-Docker-Container-Path-Stat.
GO_DIR = 1 << 31
GO_SYMLINK = 1 << 27
GO_DEVICE = 1 << 26
GO_PIPE = 1 << 25
GO_SOCKET = 1 << 24
GO_SETUID = 1 << 23
GO_SETGID = 1 << 22
GO_CHARDEV = 1 << 21
GO_STICKY = 1 << 20


class TooLarge(InvalidInput):
    """What was asked for is over the size the caller allows."""


@dataclass
class PathStat:
    name: str
    size: int
    mode: int
    mtime: str
    link_target: str

    def to_docker(self) -> dict:
        d = asdict(self)
        d["linkTarget"] = d.pop("link_target")
        return d


def go_file_mode(st_mode: int) -> int:
    mode = st_mode & 0o777
    kind = stat.S_IFMT(st_mode)
    mode |= {
        stat.S_IFDIR: GO_DIR,
        stat.S_IFLNK: GO_SYMLINK,
        stat.S_IFIFO: GO_PIPE,
        stat.S_IFSOCK: GO_SOCKET,
        stat.S_IFBLK: GO_DEVICE,
        stat.S_IFCHR: GO_DEVICE | GO_CHARDEV,
    }.get(kind, 0)
    if st_mode & stat.S_ISUID:
        mode |= GO_SETUID
    if st_mode & stat.S_ISGID:
        mode |= GO_SETGID
    if st_mode & stat.S_ISVTX:
        mode |= GO_STICKY
    return mode


def _rfc3339(seconds: float) -> str:
    whole = int(seconds)
    nanos = int(round((seconds - whole) * 1e9))
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{nanos:09d}Z"


def _container_path(path: str) -> str:
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


def _open(paths: RuntimePaths, cid: str, path: str, follow_last: bool = False) -> tuple[Place, int]:
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


def _link_target_of(paths: RuntimePaths, cid: str, path: str) -> str:
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


def _path_stat(paths: RuntimePaths, cid: str, path: str, fd: int) -> PathStat:
    st = os.fstat(fd)
    return PathStat(
        name=os.path.basename(path.rstrip("/")) or "/",
        size=st.st_size,
        mode=go_file_mode(st.st_mode),
        mtime=_rfc3339(st.st_mtime),
        link_target=_link_target_of(paths, cid, path) if stat.S_ISLNK(st.st_mode) else "",
    )


def stat_path(paths: RuntimePaths, cid: str, path: str) -> PathStat:
    """What `docker cp` and HEAD /archive report of `path` (the symlink itself, not its
    target, for a symlink)."""
    path = _container_path(path)
    place, fd = _open(paths, cid, path)
    try:
        return _path_stat(paths, cid, path, fd)
    finally:
        os.close(fd)
        place.close()


def _tarinfo(arcname: str, st: os.stat_result, fd: int) -> tarfile.TarInfo | None:
    """The header of one entry; None for a socket, which tar cannot hold (Docker skips
    them too)."""
    info = tarfile.TarInfo(arcname)
    info.mode = stat.S_IMODE(st.st_mode)
    info.uid, info.gid = st.st_uid, st.st_gid
    info.mtime = st.st_mtime
    kind = stat.S_IFMT(st.st_mode)
    if kind == stat.S_IFREG:
        info.type, info.size = tarfile.REGTYPE, st.st_size
    elif kind == stat.S_IFDIR:
        info.type = tarfile.DIRTYPE
    elif kind == stat.S_IFLNK:
        info.type, info.linkname = tarfile.SYMTYPE, safefs.readlink(fd)
    elif kind == stat.S_IFIFO:
        info.type = tarfile.FIFOTYPE
    elif kind in (stat.S_IFCHR, stat.S_IFBLK):
        info.type = tarfile.CHRTYPE if kind == stat.S_IFCHR else tarfile.BLKTYPE
        info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
    else:
        return None
    return info


def _member(tar: TarStream, arcname: str, fd: int, st: os.stat_result) -> Iterator[bytes]:
    info = _tarinfo(arcname, st, fd)
    if info is None:
        return
    if info.type != tarfile.REGTYPE:
        # Devices and FIFOs are headers only: they were never opened, only fstat'ed.
        yield from tar.member(info)
        return
    content = safefs.open_regular(fd)
    try:
        yield from tar.member(info, safefs.read_exactly(content, info.size, CHUNK))
    finally:
        os.close(content)


def _members(tar: TarStream, fd: int, base: str) -> Iterator[bytes]:
    st = os.fstat(fd)
    yield from _member(tar, base, fd, st)
    if stat.S_ISDIR(st.st_mode):
        for entry in safefs.walk(fd):
            arcname = entry.rel if base == "." else f"{base}/{entry.rel}"
            yield from _member(tar, arcname, entry.fd, entry.st)
    yield tar.end()


def _capped(pieces: Iterator[bytes], what: str, max_bytes: int | None) -> Iterator[bytes]:
    sent = 0
    for piece in pieces:
        sent += len(piece)
        if max_bytes is not None and sent > max_bytes:
            raise TooLarge(f"{what} is larger than the {max_bytes} bytes allowed")
        yield piece


def _owning(fd: int, pieces: Iterator[bytes]) -> Iterator[bytes]:
    """`pieces`, closing `fd` once they end, fail or are abandoned."""
    try:
        yield from pieces
    finally:
        os.close(fd)


def get_archive(
    paths: RuntimePaths, cid: str, path: str, max_bytes: int | None = None
) -> tuple[PathStat, Iterator[bytes]]:
    """Stat `path` and stream it (a file, or a directory tree) as a tar archive.

    The path resolves inside the container's root; the walk below it never follows a
    symlink and reads only regular files (runtime.safefs). Past `max_bytes` of tar the
    stream raises TooLarge.
    """
    path = _container_path(path)
    place, fd = _open(paths, cid, path)
    try:
        info = _path_stat(paths, cid, path, fd)
    except BaseException:
        os.close(fd)
        raise
    finally:
        place.close()
    base = os.path.basename(path.rstrip("/")) or "."
    if base == "..":
        base = "."
    tar = TarStream()
    return info, _owning(fd, _capped(_members(tar, fd, base), path, max_bytes))


def open_file(
    paths: RuntimePaths, cid: str, path: str, max_bytes: int | None = None
) -> tuple[PathStat, Iterator[bytes]]:
    """The content of the regular file at `path` (symlinks followed inside the container),
    for a download of that one file; a file over `max_bytes` raises TooLarge up front."""
    path = _container_path(path)
    place, fd = _open(paths, cid, path, follow_last=True)
    place.close()
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise InvalidInput(f"{path} is not a regular file")
        if max_bytes is not None and st.st_size > max_bytes:
            raise TooLarge(f"{path} is {st.st_size} bytes, over the {max_bytes} allowed")
        content = safefs.open_regular(fd)
    finally:
        os.close(fd)
    info = PathStat(
        name=os.path.basename(path.rstrip("/")),
        size=st.st_size,
        mode=go_file_mode(st.st_mode),
        mtime=_rfc3339(st.st_mtime),
        link_target="",
    )
    return info, _owning(content, safefs.read_exactly(content, st.st_size, CHUNK))


@dataclass
class DirEntry:
    name: str
    mode: int
    size: int
    link_target: str


def list_directory(paths: RuntimePaths, cid: str, path: str, limit: int) -> list[DirEntry]:
    """The first `limit` entries (by name) of the directory `path`, for the file browser."""
    path = _container_path(path)
    place, fd = _open(paths, cid, path, follow_last=True)
    place.close()
    try:
        if not stat.S_ISDIR(os.fstat(fd).st_mode):
            raise InvalidInput(f"{path} is not a directory")
        listing = safefs.open_dir(fd)
        try:
            names = sorted(os.listdir(listing))[:limit]
        finally:
            os.close(listing)
        found = []
        for name in names:
            try:
                entry = safefs.child(fd, name)
            except OSError:
                continue
            try:
                st = os.fstat(entry)
                link = safefs.readlink(entry) if stat.S_ISLNK(st.st_mode) else ""
            finally:
                os.close(entry)
            found.append(DirEntry(name=name, mode=st.st_mode, size=st.st_size, link_target=link))
        return found
    finally:
        os.close(fd)


def tree_size(paths: RuntimePaths, cid: str, path: str, stop_after: int) -> int:
    """About how many bytes the tar of `path` takes (headers and padded content, without
    PAX records); counting stops once past `stop_after`."""
    path = _container_path(path)
    place, fd = _open(paths, cid, path)
    place.close()
    try:
        st = os.fstat(fd)
        total = _tar_cost(st)
        if stat.S_ISDIR(st.st_mode):
            for entry in safefs.walk(fd):
                total += _tar_cost(entry.st)
                if total > stop_after:
                    break
        return total
    finally:
        os.close(fd)


def _tar_cost(st: os.stat_result) -> int:
    content = -(-st.st_size // tarfile.BLOCKSIZE) * tarfile.BLOCKSIZE
    return tarfile.BLOCKSIZE + (content if stat.S_ISREG(st.st_mode) else 0)


def put_archive(paths: RuntimePaths, cid: str, path: str, tar_stream: Iterable[bytes]) -> None:
    """Extract a tar stream into the container directory `path`: into the volume or bind
    mount that holds it, if one does. The extraction stays in that one directory: an entry
    whose path leads below another mount of the container is written under that mount's
    mount point, not into it."""
    dest = _container_path(path)
    place, fd = _open(paths, cid, dest, follow_last=True)
    os.close(fd)
    try:
        if place.readonly:
            raise Forbidden("mounted volume is marked read-only")
        if not place.in_mount and load_spec(paths, cid).readonly_rootfs:
            raise Forbidden("container rootfs is marked read-only")
        extract_into(place.root_fd, place.path, tar_stream)
    finally:
        place.close()
