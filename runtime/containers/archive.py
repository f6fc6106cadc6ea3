"""`docker cp`: stat, read and write container paths as tar streams.

All path work happens in a forked child chrooted into the container's rootfs mount, so
a symlink or `..` inside the container resolves within it and can never reach a host
file (CVE-2018-15664). Owners are numeric: no user database is consulted inside the
chroot, which would load code from the container (CVE-2019-14271).
"""

import json
import os
import stat
import tarfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass

from runtime.containers.lifecycle import remount, rootfs
from runtime.containers.state import load_state
from runtime.errors import InvalidInput, NotFound, RuntimeFailure
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


def _stat_here(path: str) -> dict:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        raise NotFound(f"Could not find the file {path} in container") from None
    target = os.path.realpath(path) if stat.S_ISLNK(st.st_mode) else ""
    name = os.path.basename(path.rstrip("/")) or "/"
    return asdict(
        PathStat(
            name=name,
            size=st.st_size,
            mode=go_file_mode(st.st_mode),
            mtime=_rfc3339(st.st_mtime),
            link_target=target,
        )
    )


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


def stat_path(paths: RuntimePaths, cid: str, path: str) -> PathStat:
    path = _container_path(path)
    r, w = os.pipe()
    try:
        pid = _run_chrooted(paths, cid, lambda keep: _stat_here(path), [w])
    finally:
        os.close(w)
    return PathStat(**_collect(pid, r))


def _tarinfo(path: str, arcname: str) -> tarfile.TarInfo:
    st = os.lstat(path)
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
        info.type, info.linkname = tarfile.SYMTYPE, os.readlink(path)
    elif kind == stat.S_IFIFO:
        info.type = tarfile.FIFOTYPE
    elif kind in (stat.S_IFCHR, stat.S_IFBLK):
        info.type = tarfile.CHRTYPE if kind == stat.S_IFCHR else tarfile.BLKTYPE
        info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
    else:
        raise InvalidInput(f"cannot archive {path}: unsupported file type")
    return info


def _write_tar(path: str, out_fd: int) -> None:
    base = os.path.basename(path.rstrip("/")) or "."
    with (
        os.fdopen(out_fd, "wb", buffering=CHUNK) as out,
        tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar,
    ):
        entries = [(path, base)]
        if stat.S_ISDIR(os.lstat(path).st_mode):
            for dirpath, dirnames, filenames in os.walk(path):
                dirnames.sort()
                rel = os.path.relpath(dirpath, path)
                for name in dirnames + sorted(filenames):
                    arc = os.path.normpath(os.path.join(base, rel, name))
                    entries.append((os.path.join(dirpath, name), arc))
        for src, arc in entries:
            info = _tarinfo(src, arc)
            if info.type == tarfile.REGTYPE:
                with open(src, "rb") as f:
                    tar.addfile(info, f)
            else:
                tar.addfile(info)


def get_archive(paths: RuntimePaths, cid: str, path: str) -> tuple[PathStat, Iterator[bytes]]:
    """Stat `path` and stream it (a file, or a directory tree) as a tar archive."""
    path = _container_path(path)
    meta_r, meta_w = os.pipe()
    data_r, data_w = os.pipe()

    def work(keep: list[int]) -> dict:
        info = _stat_here(path)
        os.write(keep[0], json.dumps({"ok": info}).encode())
        os.close(keep[0])
        _write_tar(path, keep[1])
        os._exit(0)

    try:
        pid = _run_chrooted(paths, cid, work, [meta_w, data_w])
    finally:
        os.close(meta_w)
        os.close(data_w)
    try:
        info = PathStat(**_collect_meta(meta_r))
    except BaseException:
        os.close(data_r)
        os.waitpid(pid, 0)
        raise

    def stream() -> Iterator[bytes]:
        try:
            while chunk := os.read(data_r, CHUNK):
                yield chunk
        finally:
            os.close(data_r)
            _, status = os.waitpid(pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise RuntimeFailure(f"reading {path} from the container failed")

    return info, stream()


def _collect_meta(fd: int) -> dict:
    data = b""
    while chunk := os.read(fd, CHUNK):
        data += chunk
    os.close(fd)
    reply = json.loads(data or b"{}")
    if "ok" in reply:
        return reply["ok"]
    raise _ERRORS.get(reply.get("error"), RuntimeFailure)(reply.get("message", "copy failed"))


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
