"""Turn an overlay upperdir back into a layer tar (what `docker commit` and builds store).

The upperdir belongs to a container that may still be running (commit with `pause=false`,
or processes a pause did not catch), so it is walked with runtime.safefs: one component at a
time from the fd of its directory, never following a symlink, and a file's content is read
only from the very inode fstat called regular. A directory swapped for a symlink to the host
or a file swapped for a device node therefore yields their own headers, never host content.
"""

import hashlib
import os
import stat
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from runtime import safefs
from runtime.layers.tarstream import TarStream
from runtime.layers.untar import OPAQUE_MARKER, OPAQUE_XATTR, WHITEOUT_PREFIX

_XATTR_PAX = "SCHILY.xattr."
_CHUNK = 1 << 20


class _HashingWriter:
    def __init__(self, out: BinaryIO) -> None:
        self.out = out
        self.hasher = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.hasher.update(data)
        self.size += len(data)
        self.out.write(data)
        return len(data)


def is_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def is_opaque(path_fd: int) -> bool:
    """Whether the directory an O_PATH fd holds is an overlay opaque directory."""
    return safefs.xattrs(path_fd).get(OPAQUE_XATTR) == b"y"


def write_layer(upperdir: Path, out: BinaryIO) -> str:
    """Write `upperdir` as an uncompressed layer tar to `out`; return its diff_id."""
    hashing = _HashingWriter(out)
    for piece in layer_chunks(upperdir):
        hashing.write(piece)
    return "sha256:" + hashing.hasher.hexdigest()


def layer_chunks(upperdir: Path) -> Iterator[bytes]:
    """The layer tar of `upperdir`, piece by piece: entries sorted by name, each directory
    before its content."""
    tar = TarStream()
    links: dict[tuple[int, int], str] = {}
    top = safefs.open_root(upperdir)
    try:
        for entry in safefs.walk(top):
            yield from _entry(tar, entry, links)
    finally:
        os.close(top)
    yield tar.end()


def _header(name: str, st: os.stat_result, kind: bytes) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = stat.S_IMODE(st.st_mode)
    info.uid, info.gid = st.st_uid, st.st_gid
    info.uname = info.gname = ""
    info.mtime = int(st.st_mtime)
    return info


def _pax_xattrs(found: dict[str, bytes]) -> dict[str, str]:
    return {
        _XATTR_PAX + name: value.decode("utf-8", "surrogateescape")
        for name, value in found.items()
        if not name.startswith("trusted.overlay.")
    }


def _entry(
    tar: TarStream, entry: safefs.Entry, links: dict[tuple[int, int], str]
) -> Iterator[bytes]:
    st, name, mode = entry.st, entry.rel, entry.st.st_mode
    if is_whiteout(st):
        parent, _, base = name.rpartition("/")
        whiteout = f"{parent}/{WHITEOUT_PREFIX}{base}" if parent else WHITEOUT_PREFIX + base
        yield from tar.member(_header(whiteout, st, tarfile.REGTYPE))
        return
    if stat.S_ISSOCK(mode):
        return
    if stat.S_ISDIR(mode):
        info = _header(name, st, tarfile.DIRTYPE)
    elif stat.S_ISLNK(mode):
        info = _header(name, st, tarfile.SYMTYPE)
        info.linkname = safefs.readlink(entry.fd)
    elif stat.S_ISREG(mode):
        key = (st.st_dev, st.st_ino)
        if st.st_nlink > 1 and key in links:
            info = _header(name, st, tarfile.LNKTYPE)
            info.linkname = links[key]
        else:
            links[key] = name
            info = _header(name, st, tarfile.REGTYPE)
            info.size = st.st_size
    elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        info = _header(name, st, tarfile.CHRTYPE if stat.S_ISCHR(mode) else tarfile.BLKTYPE)
        info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
    elif stat.S_ISFIFO(mode):
        info = _header(name, st, tarfile.FIFOTYPE)
    else:
        return
    found = safefs.xattrs(entry.fd)
    info.pax_headers = _pax_xattrs(found)
    if info.type == tarfile.REGTYPE:
        fd = safefs.open_regular(entry.fd)
        try:
            yield from tar.member(info, safefs.read_exactly(fd, info.size, _CHUNK))
        finally:
            os.close(fd)
    else:
        yield from tar.member(info)
    if stat.S_ISDIR(mode) and found.get(OPAQUE_XATTR) == b"y":
        yield from tar.member(_header(f"{name}/{OPAQUE_MARKER}", st, tarfile.REGTYPE))
