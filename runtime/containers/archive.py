"""`docker cp`: stat, read and write container paths as tar streams.

Reads (stat, `docker cp` out, `docker export`, the dashboard's file browser) resolve the
path a user names inside the container's root with openat2(RESOLVE_IN_ROOT) and walk below
it one fd-relative component at a time without following symlinks, reading only inodes
fstat called regular files (runtime.safefs explains why this and not a namespace-joining
child). A running container that swaps a directory for a symlink to the host, or a file for
a device node or FIFO, mid-read therefore gets its own symlink, device or FIFO back as a tar
header, never host content (CVE-2018-15664).

Writes (`docker cp` in) happen in a forked child chrooted into the container's rootfs
mount, so a symlink or `..` inside the container resolves within it (CVE-2018-15664).
Owners are numeric everywhere: no user database is consulted, which inside the chroot would
load code from the container (CVE-2019-14271).
"""

import errno
import json
import os
import posixpath
import stat
import tarfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass

from runtime import safefs
from runtime.containers.lifecycle import remount, rootfs
from runtime.containers.state import load_state
from runtime.errors import InvalidInput, NotFound, RuntimeFailure
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


_ERRORS = {"NotFound": NotFound, "InvalidInput": InvalidInput}


def _run_chrooted(
    paths: RuntimePaths, cid: str, work: Callable[[list[int]], object], keep: list[int]
) -> int:
    """Fork a child that chroots into the rootfs and calls `work(keep)`; returns its pid.

    The child writes {"ok": result} or {"error", "message"} as JSON to keep[0] and exits.
    """
    load_state(paths, cid)
    remount(paths, cid)
    root = str(rootfs(paths, cid))
    pid = os.fork()
    if pid:
        return pid
    code = 0
    try:
        for name in os.listdir("/proc/self/fd"):
            fd = int(name)
            if fd > 2 and fd not in keep:
                try:
                    os.close(fd)
                except OSError:
                    pass
        os.chroot(root)
        os.chdir("/")
        result = {"ok": work(keep)}
    except BaseException as err:
        code = 1
        kind = type(err).__name__ if type(err).__name__ in _ERRORS else "RuntimeFailure"
        if isinstance(err, tarfile.TarError):
            kind = "InvalidInput"
        result = {"error": kind, "message": str(err) or kind}
    try:
        os.write(keep[0], json.dumps(result).encode())
    finally:
        os._exit(code)


def _collect(pid: int, result_fd: int) -> object:
    data = b""
    while chunk := os.read(result_fd, CHUNK):
        data += chunk
    os.close(result_fd)
    os.waitpid(pid, 0)
    try:
        reply = json.loads(data or b"{}")
    except ValueError:
        reply = {}
    if "ok" in reply:
        return reply["ok"]
    raise _ERRORS.get(reply.get("error"), RuntimeFailure)(
        reply.get("message", "copy in the container failed")
    )


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


def _path_stat(root_fd: int, path: str, fd: int) -> PathStat:
    st = os.fstat(fd)
    return PathStat(
        name=os.path.basename(path.rstrip("/")) or "/",
        size=st.st_size,
        mode=go_file_mode(st.st_mode),
        mtime=_rfc3339(st.st_mtime),
        link_target=_link_target(root_fd, path) if stat.S_ISLNK(st.st_mode) else "",
    )


def stat_path(paths: RuntimePaths, cid: str, path: str) -> PathStat:
    """What `docker cp` and HEAD /archive report of `path` (the symlink itself, not its
    target, for a symlink)."""
    path = _container_path(path)
    root = _open_rootfs(paths, cid)
    try:
        fd = _resolve(root, path)
        try:
            return _path_stat(root, path, fd)
        finally:
            os.close(fd)
    finally:
        os.close(root)


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
    root = _open_rootfs(paths, cid)
    try:
        fd = _resolve(root, path)
        try:
            info = _path_stat(root, path, fd)
        except BaseException:
            os.close(fd)
            raise
    finally:
        os.close(root)
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
    root = _open_rootfs(paths, cid)
    try:
        fd = _resolve(root, path, follow_last=True)
    finally:
        os.close(root)
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
    root = _open_rootfs(paths, cid)
    try:
        fd = _resolve(root, path, follow_last=True)
    finally:
        os.close(root)
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
    root = _open_rootfs(paths, cid)
    try:
        fd = _resolve(root, path)
    finally:
        os.close(root)
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


def _safe_name(name: str) -> str:
    """A member name relative to the destination; refuse ones that climb out of it."""
    if name.startswith("/"):
        raise InvalidInput(f"archive entry has an absolute path: {name}")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise InvalidInput(f"archive entry escapes the destination: {name}")
    return "/".join(parts)


def _replace(path: str) -> None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        raise InvalidInput(f"cannot overwrite directory {path} with a non-directory")
    os.unlink(path)


def _extract(in_fd: int, dest: str) -> None:
    try:
        st = os.stat(dest)
    except FileNotFoundError:
        raise NotFound(f"Could not find the file {dest} in container") from None
    if not stat.S_ISDIR(st.st_mode):
        raise InvalidInput(f"extraction point is not a directory: {dest}")
    os.chdir(dest)
    dirs: list[tarfile.TarInfo] = []
    with (
        os.fdopen(in_fd, "rb", buffering=CHUNK) as src,
        tarfile.open(fileobj=src, mode="r|") as tar,
    ):
        for member in tar:
            name = _safe_name(member.name)
            if not name:
                continue
            parent = os.path.dirname(name)
            if parent:
                os.makedirs(parent, exist_ok=True)
            if member.isdir():
                if not os.path.isdir(name):
                    _replace(name)
                    os.mkdir(name)
                dirs.append(member)
            elif member.isreg():
                _replace(name)
                fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
                with os.fdopen(fd, "wb") as out, tar.extractfile(member) as data:
                    while chunk := data.read(CHUNK):
                        out.write(chunk)
            elif member.issym():
                _replace(name)
                os.symlink(member.linkname, name)
            elif member.islnk():
                _replace(name)
                os.link(_safe_name(member.linkname), name, follow_symlinks=False)
            elif member.ischr() or member.isblk():
                _replace(name)
                kind = stat.S_IFCHR if member.ischr() else stat.S_IFBLK
                os.mknod(name, kind | 0o600, os.makedev(member.devmajor, member.devminor))
            elif member.isfifo():
                _replace(name)
                os.mkfifo(name)
            else:
                continue
            os.lchown(name, member.uid, member.gid)
            if not member.issym():
                os.chmod(name, member.mode & 0o7777)
                if not member.isdir():
                    os.utime(name, (member.mtime, member.mtime))
            else:
                os.utime(name, (member.mtime, member.mtime), follow_symlinks=False)
    for member in reversed(dirs):
        name = _safe_name(member.name)
        os.chmod(name, member.mode & 0o7777)
        os.utime(name, (member.mtime, member.mtime))


def put_archive(paths: RuntimePaths, cid: str, path: str, tar_stream: Iterable[bytes]) -> None:
    """Extract a tar stream into the container directory `path`."""
    dest = _container_path(path)
    in_r, in_w = os.pipe()
    res_r, res_w = os.pipe()

    def work(keep: list[int]) -> None:
        _extract(keep[1], dest)

    try:
        pid = _run_chrooted(paths, cid, work, [res_w, in_r])
    finally:
        os.close(res_w)
        os.close(in_r)
    try:
        with os.fdopen(in_w, "wb", buffering=0) as feed:
            for chunk in tar_stream:
                view = memoryview(chunk)
                while view:
                    view = view[feed.write(view) :]
    except BrokenPipeError:
        pass
    _collect(pid, res_r)
