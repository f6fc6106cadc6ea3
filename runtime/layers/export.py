"""Turn an overlay upperdir back into a layer tar (what `docker commit` and builds store)."""

import hashlib
import os
import stat
import tarfile
from pathlib import Path
from typing import BinaryIO

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


def is_opaque(path: Path) -> bool:
    try:
        return os.getxattr(path, OPAQUE_XATTR, follow_symlinks=False) == b"y"
    except OSError:
        return False


def write_layer(upperdir: Path, out: BinaryIO) -> str:
    """Write `upperdir` as an uncompressed layer tar to `out`; return its diff_id."""
    hashing = _HashingWriter(out)
    links: dict[tuple[int, int], str] = {}
    with tarfile.open(fileobj=hashing, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for path, name in _walk(Path(upperdir)):
            _add(tar, path, name, links)
    return "sha256:" + hashing.hasher.hexdigest()


def _walk(root: Path):
    """Entries below `root` in a fixed order: sorted by name, each directory before its content."""
    with os.scandir(root) as it:
        entries = sorted(it, key=lambda e: e.name)
    for entry in entries:
        path = Path(entry.path)
        name = entry.name
        yield path, str(name)
        if entry.is_dir(follow_symlinks=False):
            for sub_path, sub_name in _walk(path):
                yield sub_path, f"{name}/{sub_name}"


def _header(name: str, st: os.stat_result, kind: bytes) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = stat.S_IMODE(st.st_mode)
    info.uid, info.gid = st.st_uid, st.st_gid
    info.uname = info.gname = ""
    info.mtime = int(st.st_mtime)
    return info


def _xattrs(path: Path) -> dict[str, str]:
    found = {}
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return found
    for attr in sorted(names):
        if attr.startswith("trusted.overlay."):
            continue
        value = os.getxattr(path, attr, follow_symlinks=False)
        found[_XATTR_PAX + attr] = value.decode("utf-8", "surrogateescape")
    return found


def _add(tar: tarfile.TarFile, path: Path, name: str, links: dict[tuple[int, int], str]) -> None:
    st = os.lstat(path)
    mode = st.st_mode
    if is_whiteout(st):
        parent, _, base = name.rpartition("/")
        whiteout = f"{parent}/{WHITEOUT_PREFIX}{base}" if parent else WHITEOUT_PREFIX + base
        tar.addfile(_header(whiteout, st, tarfile.REGTYPE))
        return
    if stat.S_ISSOCK(mode):
        return
    if stat.S_ISDIR(mode):
        info = _header(name, st, tarfile.DIRTYPE)
    elif stat.S_ISLNK(mode):
        info = _header(name, st, tarfile.SYMTYPE)
        info.linkname = os.readlink(path)
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
    info.pax_headers = _xattrs(path)
    if info.type == tarfile.REGTYPE:
        with open(path, "rb") as f:
            tar.addfile(info, f)
    else:
        tar.addfile(info)
    if stat.S_ISDIR(mode) and is_opaque(path):
        tar.addfile(_header(f"{name}/{OPAQUE_MARKER}", st, tarfile.REGTYPE))
