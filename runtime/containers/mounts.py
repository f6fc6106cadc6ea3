"""The overlay mount of a container's rootfs, through mount(2) directly."""

import ctypes
import errno
import os
from pathlib import Path

from runtime.errors import RuntimeFailure

MNT_DETACH = 2
_libc = ctypes.CDLL(None, use_errno=True)


def mount_overlay(lowerdirs: list[Path], upper: Path, work: Path, target: Path) -> None:
    for d in lowerdirs:
        if "," in str(d) or ":" in str(d):
            raise RuntimeFailure(f"layer path cannot be used in an overlay mount: {d}")
    lower = ":".join(str(d) for d in lowerdirs)
    options = f"lowerdir={lower},upperdir={upper},workdir={work}"
    if len(options) >= 4096:
        raise RuntimeFailure("too many image layers for one overlay mount")
    rc = _libc.mount(b"overlay", str(target).encode(), b"overlay", 0, options.encode())
    if rc != 0:
        err = ctypes.get_errno()
        raise RuntimeFailure(f"cannot mount container rootfs: {os.strerror(err)}")


def unmount(target: Path) -> None:
    """Detach every mount stacked on `target`; the kernel says when none is left."""
    while _libc.umount2(str(target).encode(), MNT_DETACH) == 0:
        pass
    err = ctypes.get_errno()
    if err not in (errno.EINVAL, errno.ENOENT):
        raise RuntimeFailure(f"cannot unmount {target}: {os.strerror(err)}")
