"""Child process that unpacks one layer tar read from stdin into a directory it chroots into.

Run as `python -m runtime.layers.untar <target>` by `apply_layer`. Everything it needs is
imported before chroot(), because nothing of the host (not even the standard library) is
reachable afterwards. Exit status 0 = done, 2 = the archive was refused (message on stderr),
anything else = an unexpected failure.
"""

import errno
import os
import shutil
import stat
import sys
import tarfile
from typing import BinaryIO

from runtime.layers.compression import open_uncompressed

WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"
OPAQUE_XATTR = "trusted.overlay.opaque"
_XATTR_PAX = "SCHILY.xattr."
_CHUNK = 1 << 20
EXIT_REFUSED = 2


class Refused(Exception):
    """The archive holds an entry that could reach outside the layer."""


def clean_name(name: str, member: str) -> list[str]:
    """Components of a member or link name relative to the layer root; hostile names refused."""
    if name.startswith("/"):
        raise Refused(f"{member!r}: absolute path {name!r} is not allowed in a layer")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise Refused(f"{member!r}: path {name!r} contains '..'")
    return parts


def ensure_parents(parts: list[str], member: str) -> str:
    """Create missing parent directories; refuse to pass through a symlink or a file."""
    current = ""
    for part in parts:
        current = f"{current}/{part}" if current else part
        try:
            st = os.lstat(current)
        except FileNotFoundError:
            os.mkdir(current, 0o755)
            continue
        if stat.S_ISLNK(st.st_mode):
            raise Refused(f"{member!r}: refusing to write through symlink {current!r}")
        if not stat.S_ISDIR(st.st_mode):
            raise Refused(f"{member!r}: parent {current!r} is not a directory")
    return current or "."


def remove_existing(path: str, keep_dir: bool) -> None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        if not keep_dir:
            shutil.rmtree(path)
    else:
        os.unlink(path)


def set_xattrs(path: str, member: tarfile.TarInfo) -> None:
    for key, value in member.pax_headers.items():
        if not key.startswith(_XATTR_PAX):
            continue
        name = key[len(_XATTR_PAX) :]
        # Overlay's own attributes would let a layer redirect lookups into other layers.
        if name.startswith("trusted.overlay."):
            continue
        try:
            os.setxattr(path, name, value.encode("utf-8", "surrogateescape"), follow_symlinks=False)
        except OSError as err:
            if err.errno not in (errno.ENOTSUP, errno.EPERM):
                raise


def write_file(path: str, tar: tarfile.TarFile, member: tarfile.TarInfo) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(path, flags, 0o600)
    try:
        source = tar.extractfile(member)
        while chunk := source.read(_CHUNK):
            os.write(fd, chunk)
        os.fchown(fd, member.uid, member.gid)
        os.fchmod(fd, member.mode & 0o7777)
    finally:
        os.close(fd)


def hard_link(path: str, member: tarfile.TarInfo) -> None:
    parts = clean_name(member.linkname, member.name)
    outside = f"{member.name!r}: hard link target {member.linkname!r} is not in the layer"
    if not parts:
        raise Refused(f"{member.name!r}: hard link to the layer root")
    current = ""
    for part in parts[:-1]:
        current = f"{current}/{part}" if current else part
        try:
            st = os.lstat(current)
        except FileNotFoundError:
            raise Refused(outside) from None
        if stat.S_ISLNK(st.st_mode):
            raise Refused(f"{member.name!r}: hard link goes through symlink {current!r}")
    source = "/".join(parts)
    try:
        st = os.lstat(source)
    except FileNotFoundError:
        raise Refused(outside) from None
    if stat.S_ISDIR(st.st_mode):
        raise Refused(f"{member.name!r}: hard link to directory {member.linkname!r}")
    os.link(source, path, follow_symlinks=False)


def extract(stream: BinaryIO) -> None:
    """Unpack the tar on `stream` into the current root directory."""
    dir_times: list[tuple[str, int]] = []
    with tarfile.open(fileobj=stream, mode="r|", errorlevel=2) as tar:
        for member in tar:
            parts = clean_name(member.name, member.name)
            if not parts:
                continue
            parent = ensure_parents(parts[:-1], member.name)
            base = parts[-1]
            if base == OPAQUE_MARKER:
                os.setxattr(parent, OPAQUE_XATTR, b"y", follow_symlinks=False)
                continue
            if base.startswith(WHITEOUT_PREFIX):
                hidden = base[len(WHITEOUT_PREFIX) :]
                if not hidden or hidden in (".", ".."):
                    raise Refused(f"{member.name!r}: malformed whiteout")
                path = f"{parent}/{hidden}"
                remove_existing(path, keep_dir=False)
                os.mknod(path, stat.S_IFCHR, os.makedev(0, 0))
                os.lchown(path, member.uid, member.gid)
                os.utime(path, (member.mtime, member.mtime), follow_symlinks=False)
                continue

            path = "/".join(parts)
            remove_existing(path, keep_dir=member.isdir())
            if member.isdir():
                if not os.path.isdir(path):
                    os.mkdir(path, 0o700)
            elif member.issym():
                os.symlink(member.linkname, path)
            elif member.islnk():
                hard_link(path, member)
                continue
            elif member.ischr() or member.isblk():
                kind = stat.S_IFCHR if member.ischr() else stat.S_IFBLK
                os.mknod(path, kind | 0o600, os.makedev(member.devmajor, member.devminor))
            elif member.isfifo():
                os.mkfifo(path, 0o600)
            elif member.isreg():
                write_file(path, tar, member)
            else:
                raise Refused(f"{member.name!r}: unsupported tar entry type {member.type!r}")

            os.lchown(path, member.uid, member.gid)
            if not member.issym():
                os.chmod(path, member.mode & 0o7777)
            set_xattrs(path, member)
            if member.isdir():
                dir_times.append((path, int(member.mtime)))
            else:
                os.utime(path, (member.mtime, member.mtime), follow_symlinks=False)
    # Directory times last: creating entries inside a directory would bump them again.
    for path, mtime in reversed(dir_times):
        os.utime(path, (mtime, mtime), follow_symlinks=False)


class _Capped:
    """The uncompressed tar, refused past `limit` bytes: a small gzip or zstd layer can
    unpack to far more than the disk holds."""

    def __init__(self, stream: BinaryIO, limit: int) -> None:
        self.stream, self.limit, self.count = stream, limit, 0

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(size)
        self.count += len(data)
        if self.count > self.limit:
            raise Refused(f"the layer unpacks to more than the limit of {self.limit} bytes")
        return data


def main(target: str, limit: int) -> int:
    os.umask(0)
    os.chroot(target)
    os.chdir("/")
    try:
        extract(_Capped(open_uncompressed(sys.stdin.buffer), limit))
    except Refused as err:
        sys.stderr.write(f"{err}\n")
        return EXIT_REFUSED
    except tarfile.TarError as err:
        sys.stderr.write(f"invalid layer tar: {err}\n")
        return EXIT_REFUSED
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2])))
