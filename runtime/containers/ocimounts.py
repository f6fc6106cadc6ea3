"""What a container sees mounted besides its rootfs, which /proc and /sys paths it may not
read or write (Docker's defaults), and the hook that keeps device nodes in its rootfs shut."""

import functools
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runtime.errors import InvalidInput

if TYPE_CHECKING:
    from runtime.containers.spec import ContainerSpec

MASKED_PATHS = [
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
]

READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]

# (path, type, major, minor): the nodes every container gets, as in Docker.
DEFAULT_DEVICES = [
    ("/dev/null", "c", 1, 3),
    ("/dev/zero", "c", 1, 5),
    ("/dev/full", "c", 1, 7),
    ("/dev/random", "c", 1, 8),
    ("/dev/urandom", "c", 1, 9),
    ("/dev/tty", "c", 5, 0),
]

ETC_FILES = ("hosts", "hostname", "resolv.conf")


def oci_mounts(spec: "ContainerSpec") -> list[dict[str, Any]]:
    """The OCI `mounts` of a container: the kernel filesystems, its tmpfs mounts, its own
    /etc files, its binds and its volumes."""
    sys_opts = ["nosuid", "noexec", "nodev", "ro"]
    mounts: list[dict[str, Any]] = [
        {"destination": "/proc", "type": "proc", "source": "proc", "options": sys_opts[:3]},
        {
            "destination": "/dev",
            "type": "tmpfs",
            "source": "tmpfs",
            "options": ["nosuid", "strictatime", "mode=755", "size=65536k"],
        },
        {
            "destination": "/dev/pts",
            "type": "devpts",
            "source": "devpts",
            "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
        },
        {
            "destination": "/dev/shm",
            "type": "tmpfs",
            "source": "shm",
            "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
        },
        {
            "destination": "/dev/mqueue",
            "type": "mqueue",
            "source": "mqueue",
            "options": sys_opts[:3],
        },
        {
            "destination": "/sys",
            "type": "sysfs",
            "source": "sysfs",
            "options": sys_opts if not spec.privileged else sys_opts[:3],
        },
        {
            "destination": "/sys/fs/cgroup",
            "type": "cgroup",
            "source": "cgroup",
            "options": sys_opts[:3] + ["relatime", "ro"],
        },
    ]
    for dst, opts in spec.tmpfs.items():
        extra = [o for o in opts.split(",") if o] if opts else []
        mounts.append(
            {
                "destination": dst,
                "type": "tmpfs",
                "source": "tmpfs",
                "options": ["nosuid", "nodev", "noexec"] + extra,
            }
        )
    if spec.etc_dir:
        for name in ETC_FILES:
            mounts.append(
                {
                    "destination": f"/etc/{name}",
                    "type": "bind",
                    "source": str(Path(spec.etc_dir) / name),
                    "options": ["rbind", "rw", "rprivate"],
                }
            )
    for bind in spec.binds:
        parts = bind.split(":")
        if len(parts) not in (2, 3) or not parts[0].startswith("/") or not parts[1].startswith("/"):
            raise InvalidInput(f"invalid bind mount spec: {bind}")
        opts = parts[2].split(",") if len(parts) == 3 else []
        mode = "ro" if "ro" in opts else "rw"
        mounts.append(
            {
                "destination": parts[1],
                "type": "bind",
                "source": parts[0],
                "options": ["rbind", mode, "rprivate"],
            }
        )
    for mount in spec.mounts:
        if not mount.get("source") or not str(mount.get("destination", "")).startswith("/"):
            raise InvalidInput(f"invalid mount: {mount.get('destination', '')}")
        mode = "ro" if mount.get("readonly") else "rw"
        mounts.append(
            {
                "destination": mount["destination"],
                "type": "bind",
                "source": mount["source"],
                "options": ["rbind", mode, "rprivate"],
            }
        )
    return mounts


# crun writes the container's state to a hook's stdin and fails the start when the hook has
# exited before taking it (EPIPE), so the hook reads it all before it execs mount.
_DRAIN_THEN_EXEC = 'while read -r line; do :; done; exec "$@"'


@functools.cache
def _hook_command() -> tuple[list[str], list[str]]:
    """(shell, mount): busybox-static's when present, which exec in well under a
    millisecond; util-linux's mount reads the whole mount table first."""
    busybox = shutil.which("busybox")
    if busybox:
        return [busybox, "sh"], [busybox, "mount"]
    return ["/bin/sh"], [shutil.which("mount") or "/bin/mount"]


def nodev_rootfs_hooks(rootfs: Path, readonly: bool) -> dict[str, Any]:
    """OCI hooks that mount the container's root `nodev`, as its overlay already is.

    crun bind-mounts the rootfs onto itself and remounts that bind with no flags, so the
    overlay's nodev does not reach the container; the OCI spec has no option for the root's
    mount flags. A createContainer hook runs in the container's mount namespace after that
    remount and before pivot_root, where the rootfs path still names the new bind."""
    options = "remount,bind,nodev" + (",ro" if readonly else "")
    shell, mount = _hook_command()
    args = [*shell, "-c", _DRAIN_THEN_EXEC, "nodev-hook", *mount]
    args += ["-o", options, os.path.abspath(rootfs)]
    return {"createContainer": [{"path": shell[0], "args": args, "timeout": 10}]}
