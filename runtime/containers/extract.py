"""`docker cp` in: a tar stream extracted in a forked child chrooted into the directory the
destination lives in (the container's rootfs, or the volume or bind mount holding it), so a
symlink or `..` in it resolves inside that directory, wherever it points (CVE-2014-6407,
CVE-2018-15664). Owners are numeric: no user database is consulted, which inside the chroot
would load code from the container (CVE-2019-14271).
"""

import json
import os
import stat
import tarfile
from collections.abc import Callable, Iterable

from runtime.errors import Forbidden, InvalidInput, NotFound, RuntimeFailure

CHUNK = 64 * 1024

_ERRORS = {"NotFound": NotFound, "InvalidInput": InvalidInput, "Forbidden": Forbidden}


def _run_chrooted(root_fd: int, work: Callable[[list[int]], object], keep: list[int]) -> int:
    """Fork a child that chroots into the directory `root_fd` and calls `work(keep)`;
    returns its pid.

    The child writes {"ok": result} or {"error", "message"} as JSON to keep[0] and exits.
    """
    pid = os.fork()
    if pid:
        return pid
    code = 0
    try:
        os.fchdir(root_fd)
        for name in os.listdir("/proc/self/fd"):
            fd = int(name)
            if fd > 2 and fd not in keep:
                try:
                    os.close(fd)
                except OSError:
                    pass
        os.chroot(".")
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


def extract_into(root_fd: int, dest: str, tar_stream: Iterable[bytes]) -> None:
    """Extract a tar stream into the directory `dest`, as a process chrooted into the
    directory `root_fd` sees it."""
    in_r, in_w = os.pipe()
    res_r, res_w = os.pipe()

    def work(keep: list[int]) -> None:
        _extract(keep[1], dest)

    try:
        pid = _run_chrooted(root_fd, work, [res_w, in_r])
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
