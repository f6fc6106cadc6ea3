"""The default seccomp filter: system calls a container may not make unless it holds the
capability that would make them safe, as Docker's default profile decides.

Docker's profile is an allow-list; this one names what it refuses, grouped by the
capability that lifts each refusal (`--cap-add SYS_ADMIN` lets a container mount, as in
Docker). Many of these calls would fail without the capability anyway; the filter keeps
them away from kernel code that is not namespaced (keyrings, bpf, perf, module loading)
and from bugs in the capability checks themselves. A refused call fails with EPERM.
"""

import platform
from typing import Any

# Calls refused to every container that lacks the capability on the left.
_GUARDED: dict[str, tuple[str, ...]] = {
    "CAP_SYS_ADMIN": (
        "mount",
        "umount",
        "umount2",
        "pivot_root",
        "unshare",
        "setns",
        "fanotify_init",
        "quotactl",
        "lookup_dcookie",
        "bpf",
        "perf_event_open",
        "userfaultfd",
        "fsopen",
        "fsmount",
        "fsconfig",
        "fspick",
        "open_tree",
        "move_mount",
        "mount_setattr",
        "swapon",
        "swapoff",
    ),
    "CAP_SYS_MODULE": ("init_module", "finit_module", "delete_module"),
    "CAP_SYS_BOOT": ("reboot", "kexec_load", "kexec_file_load"),
    "CAP_SYS_TIME": ("settimeofday", "clock_settime", "clock_adjtime"),
    "CAP_SYS_RAWIO": ("iopl", "ioperm"),
    "CAP_SYS_PACCT": ("acct",),
    "CAP_SYS_PTRACE": ("process_vm_readv", "process_vm_writev", "kcmp"),
    "CAP_SYS_NICE": ("mbind", "set_mempolicy", "move_pages"),
    "CAP_DAC_READ_SEARCH": ("open_by_handle_at",),
}

# Refused whatever the capabilities: keyrings are not namespaced, and the rest are
# obsolete calls nothing current needs.
_ALWAYS = ("add_key", "request_key", "keyctl", "uselib", "nfsservctl", "_sysctl", "vm86")

_EPERM = 1
# The filter also covers the compatibility ABIs a 64-bit kernel runs; without them a
# 32-bit binary would bypass it.
_ARCHITECTURES = {
    "x86_64": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
    "aarch64": ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"],
}.get(platform.machine(), [])


def default_profile(capabilities: list[str]) -> dict[str, Any]:
    """The OCI `linux.seccomp` section for a container holding `capabilities`."""
    refused = list(_ALWAYS)
    for capability, calls in _GUARDED.items():
        if capability not in capabilities:
            refused.extend(calls)
    return {
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": list(_ARCHITECTURES),
        "syscalls": [{"names": refused, "action": "SCMP_ACT_ERRNO", "errnoRet": _EPERM}],
    }
