"""Linux capabilities a container holds: Docker's default set, and what --cap-add and
--cap-drop make of it."""

from runtime.errors import InvalidInput

DEFAULT_CAPS = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
]

ALL_CAPS = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
]


def cap_name(cap: str) -> str:
    """'net_admin' or 'CAP_NET_ADMIN' -> 'CAP_NET_ADMIN'."""
    cap = cap.strip().upper()
    return cap if cap.startswith("CAP_") else "CAP_" + cap


def capabilities(spec_privileged: bool, cap_add: list[str], cap_drop: list[str]) -> list[str]:
    """The capability set of a container: Docker's defaults with `--cap-add`/`--cap-drop`
    (names with or without CAP_, and ALL), or every capability when privileged."""
    if spec_privileged:
        return list(ALL_CAPS)
    add = [cap_name(c) for c in cap_add]
    drop = [cap_name(c) for c in cap_drop]
    for c in add + drop:
        if c != "CAP_ALL" and c not in ALL_CAPS:
            raise InvalidInput(f"unknown capability: {c}")
    caps = list(ALL_CAPS) if "CAP_ALL" in add else list(DEFAULT_CAPS)
    caps += [c for c in add if c not in caps and c != "CAP_ALL"]
    if "CAP_ALL" in drop:
        caps = [c for c in caps if c in add]
    return [c for c in caps if c not in drop]
