"""Reading a directory tree that a container can change while it is read, without leaving it.

`docker cp` out, `docker export`, `docker diff`, `docker commit` and the dashboard's file
browser read a container's rootfs or upperdir as root on the host, while the container may
rename its directories and put symlinks, device nodes or FIFOs in their place. A path read
twice (`lstat` then `open`, or a directory listed then entered) can then name two different
files: a directory swapped for `ln -s / d` would walk the host, a file swapped for a block
device would copy the host's disk, a FIFO would block the reader for ever.

Every open here goes through `openat2(2)` relative to a directory fd, never by path:

- a path a user names in the container resolves with `RESOLVE_IN_ROOT` (its symlinks and
  `..` stay inside the container's root, like a chroot), `RESOLVE_NO_MAGICLINKS` and
  `RESOLVE_NO_XDEV`;
- a walk takes one component at a time from the fd of its directory with
  `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS` and `O_PATH | O_NOFOLLOW`, so a name can only ever
  give the entry that is in that very directory, never something a symlink points at;
- the metadata is `fstat` of that fd, and the content, if any, is read by reopening that same
  inode (through /proc/self/fd) only after `fstat` said it is a regular file. An `O_PATH`
  open runs no driver code, so a device node or FIFO is never opened at all, let alone read:
  it becomes a tar header, as in Docker.

Why this rather than a child joining the container's mount namespace (`setns`) and chrooting:
that needs a running init to join, and `docker cp`, `export`, `diff` and `commit` also work
on created and stopped containers, so there would be two code paths; `setns` into a mount
namespace is refused to a multi-threaded process, so every read would fork the agent or the
worker (both threaded); and inside the namespace a root process with every capability would
still have to defend itself against the same swaps and device nodes (a chroot does not stop
`open()` of a block device), plus the container's /proc and /sys. The fd walk is one code
path, in-process, and its guarantee comes from the kernel's resolver. It reads the overlay
mount the host made for the container (and the upperdir), where the container's volumes are
not mounted: `docker cp` reads those in their own directories
(runtime.containers.mountpaths).

openat2 has no wrapper in Python's standard library: it is called through ctypes (Linux 5.6
and later; its syscall number is 437 on every architecture using the unified table).
"""

import ctypes
import errno
import os
import platform
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from runtime.errors import InvalidInput, RuntimeFailure

RESOLVE_NO_XDEV = 0x01
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
RESOLVE_IN_ROOT = 0x10

# A path named inside a container: resolved as if the directory fd were "/".
IN_ROOT = RESOLVE_IN_ROOT | RESOLVE_NO_XDEV | RESOLVE_NO_MAGICLINKS
# One step down from a directory, following no symlink at all.
ONE_STEP = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV | RESOLVE_NO_MAGICLINKS

# Deeper trees are refused rather than read: a walk holds one fd per level.
MAX_DEPTH = 512
# openat2 answers EAGAIN when a rename raced a `..` in an IN_ROOT resolution; a container
# renaming in a loop could make that last for ever, so the retries are bounded.
_EAGAIN_RETRIES = 64

_UNIFIED_TABLE = {
    "x86_64",
    "amd64",
    "aarch64",
    "arm64",
    "i386",
    "i686",
    "riscv64",
    "ppc64le",
    "ppc64",
    "s390x",
    "loongarch64",
}
_libc = ctypes.CDLL(None, use_errno=True)
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


def _openat2_number() -> int:
    machine = platform.machine().lower()
    if machine in _UNIFIED_TABLE or machine.startswith("armv"):
        return 437
    raise RuntimeFailure(f"openat2 is not wired up for {machine} here")


_SYS_OPENAT2 = _openat2_number()


def openat2(dir_fd: int, path: str, flags: int, resolve: int) -> int:
    """openat2(2); raises OSError with the errno, like os.open."""
    how = _OpenHow(flags | os.O_CLOEXEC, 0, resolve)
    raw = os.fsencode(path)
    for _ in range(_EAGAIN_RETRIES):
        fd = _syscall(
            ctypes.c_long(_SYS_OPENAT2),
            ctypes.c_int(dir_fd),
            ctypes.c_char_p(raw),
            ctypes.byref(how),
            ctypes.c_size_t(ctypes.sizeof(how)),
        )
        if fd >= 0:
            return fd
        err = ctypes.get_errno()
        if err == errno.ENOSYS:
            raise RuntimeFailure("reading container files needs openat2 (Linux 5.6 or later)")
        if err not in (errno.EAGAIN, errno.EINTR):
            raise OSError(err, os.strerror(err), path)
    raise RuntimeFailure(f"{path} kept changing while it was resolved")


def open_root(path: Path) -> int:
    """An O_PATH fd of a directory the host itself names (a rootfs mount, an upperdir)."""
    return os.open(path, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)


def resolve(root_fd: int, path: str, follow_last: bool = False) -> int:
    """An O_PATH fd of `path` as the container sees it under `root_fd`.

    Symlinks on the way are followed inside the root; the last one only if `follow_last`
    (or if the path ends in "/"), so by default the fd is of the symlink itself, as lstat.
    """
    flags = os.O_PATH if follow_last else os.O_PATH | os.O_NOFOLLOW
    return openat2(root_fd, path.lstrip("/") or ".", flags, IN_ROOT)


def child(dir_fd: int, name: str) -> int:
    """An O_PATH fd of the entry `name` of the directory `dir_fd`, never following it."""
    if not name or "/" in name or name in (".", ".."):
        raise InvalidInput(f"not a directory entry name: {name!r}")
    return openat2(dir_fd, name, os.O_PATH | os.O_NOFOLLOW, ONE_STEP)


def open_dir(path_fd: int) -> int:
    """A readable fd of the directory an O_PATH fd holds (the same inode, whatever its name
    points at by now)."""
    return os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=path_fd)


def open_regular(path_fd: int) -> int:
    """A readable fd of the regular file an O_PATH fd holds; anything else is refused.

    The O_PATH fd pins the inode, and /proc/self/fd/N reopens exactly that inode, so what is
    opened is the file that fstat described, not whatever its name means by now.
    """
    before = os.fstat(path_fd)
    if not stat.S_ISREG(before.st_mode):
        raise InvalidInput("not a regular file")
    fd = os.open(f"/proc/self/fd/{path_fd}", os.O_RDONLY | os.O_CLOEXEC | os.O_NOCTTY)
    after = os.fstat(fd)
    if (after.st_dev, after.st_ino) != (before.st_dev, before.st_ino) or not stat.S_ISREG(
        after.st_mode
    ):
        os.close(fd)
        raise RuntimeFailure("a file changed identity while it was opened")
    return fd


def readlink(path_fd: int) -> str:
    """The target of the symlink an O_PATH | O_NOFOLLOW fd holds."""
    return os.readlink("", dir_fd=path_fd)


def xattrs(path_fd: int) -> dict[str, bytes]:
    """Extended attributes of the inode an O_PATH fd holds (a symlink's own, not its
    target's: /proc/self/fd/N leads to the inode itself). Nothing is opened."""
    where = f"/proc/self/fd/{path_fd}"
    try:
        names = os.listxattr(where)
    except OSError:
        return {}
    found = {}
    for name in sorted(names):
        try:
            found[name] = os.getxattr(where, name)
        except OSError:
            continue
    return found


def host_path(fd: int) -> str:
    """Where an fd is on the host, for telling paths apart (never to open again)."""
    return os.readlink(f"/proc/self/fd/{fd}")


@dataclass
class Entry:
    """One entry of a walk. `fd` is an O_PATH fd, valid until the walk moves on."""

    rel: str
    fd: int
    st: os.stat_result


def walk(top_fd: int) -> Iterator[Entry]:
    """Entries below the directory `top_fd`, sorted by name, each directory before what it
    holds. An entry that vanishes between the listing and its open is left out; a directory
    renamed meanwhile is still read whole, through the fd it was opened as."""
    first = open_dir(top_fd)
    stack: list[tuple[int, str, Iterator[str]]] = [(first, "", iter(sorted(os.listdir(first))))]
    try:
        while stack:
            dir_fd, prefix, names = stack[-1]
            name = next(names, None)
            if name is None:
                os.close(dir_fd)
                stack.pop()
                continue
            try:
                fd = child(dir_fd, name)
            except FileNotFoundError:
                continue
            except OSError as err:
                if err.errno == errno.EXDEV:
                    # A mount point inside the tree: not the tree's own content.
                    continue
                raise
            try:
                st = os.fstat(fd)
                rel = f"{prefix}{name}"
                yield Entry(rel=rel, fd=fd, st=st)
                if stat.S_ISDIR(st.st_mode):
                    if len(stack) >= MAX_DEPTH:
                        raise InvalidInput(f"{rel} is nested more than {MAX_DEPTH} levels deep")
                    sub = open_dir(fd)
                    stack.append((sub, f"{rel}/", iter(sorted(os.listdir(sub)))))
            finally:
                os.close(fd)
    finally:
        for dir_fd, _, _ in stack:
            os.close(dir_fd)


def read_exactly(fd: int, size: int, chunk: int) -> Iterator[bytes]:
    """`size` bytes of an open regular file, in pieces of at most `chunk`.

    A file the container shrinks meanwhile is padded with zeros and one it grows is cut, so
    a tar header written beforehand stays true.
    """
    left = size
    offset = 0
    while left > 0:
        data = os.pread(fd, min(chunk, left), offset)
        if not data:
            data = bytes(min(chunk, left))
        offset += len(data)
        left -= len(data)
        yield data
