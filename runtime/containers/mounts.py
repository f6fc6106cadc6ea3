"""The overlay mount of a container's rootfs, through mount(2) directly."""

import ctypes
import errno
import os
from pathlib import Path

from runtime.errors import RuntimeFailure

MNT_DETACH = 2
MS_NODEV = 4
_libc = ctypes.CDLL(None, use_errno=True)


def mount_overlay(
    lowerdirs: list[Path], upper: Path, work: Path, target: Path, *, nodev: bool = True
) -> None:
    """Mount the layers at `target`. `nodev` unless the container may use devices: a device
    node that a container with CAP_MKNOD makes in its upper layer then cannot be opened, and
    the only devices it reaches are those the OCI spec puts in its /dev."""
    for d in lowerdirs:
        if "," in str(d) or ":" in str(d):
            raise RuntimeFailure(f"layer path cannot be used in an overlay mount: {d}")
    lower = ":".join(str(d) for d in lowerdirs)
    options = f"lowerdir={lower},upperdir={upper},workdir={work}"
    if len(options) >= 4096:
        raise RuntimeFailure("too many image layers for one overlay mount")
    flags = MS_NODEV if nodev else 0
    rc = _libc.mount(b"overlay", str(target).encode(), b"overlay", flags, options.encode())
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
