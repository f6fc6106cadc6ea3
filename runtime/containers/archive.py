"""`docker cp`: read and write container paths as tar streams (stat: runtime.containers.pathstat).

A path in a volume or bind mount of the container is read and written in that mount's
directory, as the container sees it (runtime.containers.mountpaths).

Reads (stat, `docker cp` out, `docker export`, the dashboard's file browser) resolve the
path a user names inside the container's root with openat2(RESOLVE_IN_ROOT)
(runtime.containers.pathlookup) and walk below it one fd-relative component at a time
without following symlinks, reading only inodes fstat called regular files (runtime.safefs
explains why this and not a namespace-joining child). A running container that swaps a
directory for a symlink to the host, or a file for a device node or FIFO, mid-read therefore
gets its own symlink, device or FIFO back as a tar header, never host content
(CVE-2018-15664).

Writes (`docker cp` in) happen in a forked child chrooted into the container's rootfs
mount or the mount's directory (runtime.containers.extract).
"""

import os
import stat
import tarfile
from collections.abc import Iterable, Iterator

from runtime import safefs
from runtime.containers.extract import extract_into
from runtime.containers.layout import load_spec
from runtime.containers.pathlookup import container_path, open_place
from runtime.containers.pathstat import PathStat, go_file_mode, rfc3339, stat_opened
from runtime.errors import Forbidden, InvalidInput
from runtime.layers.tarstream import TarStream
from runtime.paths import RuntimePaths

CHUNK = 64 * 1024


class TooLarge(InvalidInput):
    """What was asked for is over the size the caller allows."""


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
    path = container_path(path)
    place, fd = open_place(paths, cid, path)
    try:
        info = stat_opened(paths, cid, path, fd)
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
    path = container_path(path)
    place, fd = open_place(paths, cid, path, follow_last=True)
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
        mtime=rfc3339(st.st_mtime),
        link_target="",
    )
    return info, _owning(content, safefs.read_exactly(content, st.st_size, CHUNK))


def tree_size(paths: RuntimePaths, cid: str, path: str, stop_after: int) -> int:
    """About how many bytes the tar of `path` takes (headers and padded content, without
    PAX records); counting stops once past `stop_after`."""
    path = container_path(path)
    place, fd = open_place(paths, cid, path)
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
    dest = container_path(path)
    place, fd = open_place(paths, cid, dest, follow_last=True)
    os.close(fd)
    try:
        if place.readonly:
            raise Forbidden("mounted volume is marked read-only")
        if not place.in_mount and load_spec(paths, cid).readonly_rootfs:
            raise Forbidden("container rootfs is marked read-only")
        extract_into(place.root_fd, place.path, tar_stream)
    finally:
        place.close()
