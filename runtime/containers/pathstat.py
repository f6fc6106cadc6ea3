"""What `docker cp` and HEAD /archive report of a container path: Docker's PathStat, with
Go's file mode bits."""

import os
import stat
import time
from dataclasses import asdict, dataclass

from runtime.containers.pathlookup import container_path, link_target_of, open_place
from runtime.paths import RuntimePaths

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


def rfc3339(seconds: float) -> str:
    whole = int(seconds)
    nanos = int(round((seconds - whole) * 1e9))
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{nanos:09d}Z"


def stat_opened(paths: RuntimePaths, cid: str, path: str, fd: int) -> PathStat:
    st = os.fstat(fd)
    return PathStat(
        name=os.path.basename(path.rstrip("/")) or "/",
        size=st.st_size,
        mode=go_file_mode(st.st_mode),
        mtime=rfc3339(st.st_mtime),
        link_target=link_target_of(paths, cid, path) if stat.S_ISLNK(st.st_mode) else "",
    )


def stat_path(paths: RuntimePaths, cid: str, path: str) -> PathStat:
    """What `docker cp` and HEAD /archive report of `path` (the symlink itself, not its
    target, for a symlink)."""
    path = container_path(path)
    place, fd = open_place(paths, cid, path)
    try:
        return stat_opened(paths, cid, path, fd)
    finally:
        os.close(fd)
        place.close()
