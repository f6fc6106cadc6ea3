"""The container configuration and its translation into an OCI runtime `config.json`.

`build_oci_config` is a pure function of the spec and the rootfs contents (only the
container's own /etc/passwd and /etc/group are read), so it is unit-tested without root.
"""

import os
import resource
import signal
import stat
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from runtime.containers import seccomp
from runtime.containers.capabilities import ALL_CAPS as ALL_CAPS
from runtime.containers.capabilities import DEFAULT_CAPS as DEFAULT_CAPS
from runtime.containers.capabilities import capabilities
from runtime.containers.ocimounts import (
    DEFAULT_DEVICES,
    MASKED_PATHS,
    READONLY_PATHS,
    nodev_rootfs_hooks,
    oci_mounts,
)
from runtime.errors import InvalidInput

DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DEFAULT_NOFILE = 1048576

# Linux resource numbers; the resource module lacks several of them.
RLIMITS = {
    "cpu": 0,
    "fsize": 1,
    "data": 2,
    "stack": 3,
    "core": 4,
    "rss": 5,
    "nproc": 6,
    "nofile": 7,
    "memlock": 8,
    "as": 9,
    "locks": 10,
    "sigpending": 11,
    "msgqueue": 12,
    "nice": 13,
    "rtprio": 14,
    "rttime": 15,
}


@dataclass
class Ulimit:
    name: str
    soft: int
    hard: int


@dataclass
class ContainerSpec:
    args: list[str]
    env: list[str] = field(default_factory=list)
    cwd: str = "/"
    user: str = ""
    # Docker's --group-add: group names (looked up in the container's /etc/group) or gids,
    # added to the process's supplementary groups.
    group_add: list[str] = field(default_factory=list)
    hostname: str = ""
    tty: bool = False
    open_stdin: bool = False
    stdin_once: bool = False
    memory: int = 0
    memory_swap: int = 0
    cpu_shares: int = 0
    cpu_quota: int = 0
    cpu_period: int = 0
    nano_cpus: int = 0
    pids_limit: int = 0
    privileged: bool = False
    # Docker's `--security-opt seccomp=unconfined` turns it off; privileged ones have none.
    seccomp: bool = True
    # A profile of one's own in Docker's JSON format (`--security-opt seccomp=<file>`), used
    # in place of the default one; empty for the default.
    seccomp_profile: str = ""
    cap_add: list[str] = field(default_factory=list)
    cap_drop: list[str] = field(default_factory=list)
    readonly_rootfs: bool = False
    binds: list[str] = field(default_factory=list)
    tmpfs: dict[str, str] = field(default_factory=dict)
    # Volumes and `--mount type=bind`: {"source", "destination", "readonly", "volume",
    # "copy_up"}; a volume's source is its directory on this node (runtime.volumes).
    mounts: list[dict[str, Any]] = field(default_factory=list)
    network_ns: str | None = None
    # Holds the container's own hosts, hostname and resolv.conf, bound over the image's.
    etc_dir: str | None = None
    ulimits: list[Ulimit] = field(default_factory=list)
    stop_signal: str = "SIGTERM"
    # How conmon keeps output: "k8s-file" (a log `docker logs` reads) or "none" (no log).
    log_driver: str = "k8s-file"
    # Docker's json-file max-size and max-file: 0 keeps everything in one growing file;
    # otherwise the log is rotated once it reaches max-size, keeping max-file files in all.
    log_max_size: int = 0
    log_max_files: int = 1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ContainerSpec":
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        if "log_max_files" not in data:
            # Written before logs were rotated: log_max_size was the platform's 10 MiB, never
            # the user's choice, and made conmon empty the log. Such containers now keep it all,
            # as they would if created today without log options.
            values.pop("log_max_size", None)
        values["ulimits"] = [Ulimit(**u) for u in values.get("ulimits", [])]
        return cls(**values)


@dataclass
class ProcessUser:
    uid: int
    gid: int
    additional_gids: list[int]
    home: str


def signal_number(name: str | int) -> int:
    """'SIGTERM', 'TERM', '15' or 15 -> 15."""
    if isinstance(name, int):
        return name
    text = name.strip().upper()
    if text.isdigit():
        return int(text)
    if not text.startswith("SIG"):
        text = "SIG" + text
    try:
        return int(signal.Signals[text])
    except KeyError:
        raise InvalidInput(f"invalid signal: {name}") from None


def _read_db(rootfs: Path, name: str) -> list[list[str]]:
    """Rows of the container's /etc/<name>; never follows a symlink out of the rootfs."""
    etc = rootfs / "etc"
    try:
        if stat.S_ISLNK(os.lstat(etc).st_mode):
            return []
        fd = os.open(etc / name, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return []
    with os.fdopen(fd) as f:
        return [line.rstrip("\n").split(":") for line in f if line.strip() and line[0] != "#"]


# Above it the kernel's gid_t has no room (and (gid_t)-1 means "no change").
MAX_GID = 2**32 - 2


def _lookup_group(groups: list[list[str]], value: str) -> int:
    if value.isdigit():
        if int(value) > MAX_GID:
            raise InvalidInput(f"invalid group id {value}: over {MAX_GID}")
        return int(value)
    for row in groups:
        if len(row) >= 3 and row[0] == value:
            return int(row[2])
    raise InvalidInput(f"unable to find group {value}: no matching entries in group file")


def resolve_user(rootfs: Path, user: str) -> ProcessUser:
    """Docker's --user: "uid", "uid:gid", "name" or "name:group", via the container's files."""
    passwd = _read_db(rootfs, "passwd")
    groups = _read_db(rootfs, "group")
    name_part, _, group_part = (user or "0").partition(":")
    uid, gid, home, username = None, None, "/", None
    for row in passwd:
        if len(row) < 6:
            continue
        if (name_part.isdigit() and row[2] == name_part) or row[0] == name_part:
            uid, gid, home, username = int(row[2]), int(row[3]), row[5] or "/", row[0]
            break
    if uid is None:
        if not name_part.isdigit():
            raise InvalidInput(
                f"unable to find user {name_part}: no matching entries in passwd file"
            )
        uid, gid = int(name_part), 0
    if group_part:
        gid = _lookup_group(groups, group_part)
    extra: list[int] = []
    if username is not None and not group_part:
        for row in groups:
            if len(row) >= 4 and username in row[3].split(",") and int(row[2]) != gid:
                extra.append(int(row[2]))
    return ProcessUser(uid=uid, gid=gid, additional_gids=extra, home=home)


def added_groups(rootfs: Path, names: list[str]) -> list[int]:
    """The gids of `--group-add`, resolved in the container's own /etc/group."""
    groups = _read_db(rootfs, "group") if any(not n.isdigit() for n in names) else []
    return [_lookup_group(groups, name) for name in names]


def process_env(env: list[str], tty: bool, hostname: str, home: str) -> list[str]:
    keys = {e.partition("=")[0] for e in env}
    out = []
    if "PATH" not in keys:
        out.append(DEFAULT_PATH)
    if hostname and "HOSTNAME" not in keys:
        out.append(f"HOSTNAME={hostname}")
    if tty and "TERM" not in keys:
        out.append("TERM=xterm")
    if "HOME" not in keys:
        out.append(f"HOME={home}")
    return out + list(env)


def linked_env(spec: ContainerSpec, rootfs: Path, links: list[str]) -> list[str]:
    """The process environment of `spec` with the variables of its links (Docker's
    `--link`) under its own: a variable the container sets itself wins."""
    own = {e.partition("=")[0] for e in spec.env}
    env = [e for e in links if e.partition("=")[0] not in own] + list(spec.env)
    return process_env(env, spec.tty, spec.hostname, resolve_user(rootfs, spec.user).home)


def _rlimits(ulimits: list[Ulimit]) -> list[dict[str, Any]]:
    wanted = {"nofile": (DEFAULT_NOFILE, DEFAULT_NOFILE)}
    for u in ulimits:
        if u.name not in RLIMITS:
            raise InvalidInput(f"invalid ulimit type: {u.name}")
        wanted[u.name] = (u.soft, u.hard)
    out = []
    for name, (soft, hard) in sorted(wanted.items()):
        # Raising a hard limit needs CAP_SYS_RESOURCE on the host, which it may lack.
        _, host_hard = resource.getrlimit(RLIMITS[name])
        if host_hard != resource.RLIM_INFINITY:
            hard = min(hard, host_hard)
        soft = min(soft, hard)
        out.append({"type": f"RLIMIT_{name.upper()}", "soft": soft, "hard": hard})
    return out


def _resources(spec: ContainerSpec, swap_accounting: bool) -> dict[str, Any]:
    res: dict[str, Any] = {}
    if spec.privileged:
        res["devices"] = [{"allow": True, "access": "rwm"}]
    else:
        res["devices"] = [{"allow": False, "access": "rwm"}] + [
            {"allow": True, "type": t, "major": ma, "minor": mi, "access": "rwm"}
            for _, t, ma, mi in DEFAULT_DEVICES
        ]
        res["devices"] += [
            {"allow": True, "type": "c", "major": 136, "access": "rwm"},
            {"allow": True, "type": "c", "major": 5, "minor": 2, "access": "rwm"},
        ]
    memory: dict[str, int] = {}
    if spec.memory:
        memory["limit"] = spec.memory
        if swap_accounting:
            # Docker's default: as much swap as memory, unless told otherwise.
            memory["swap"] = spec.memory_swap if spec.memory_swap else 2 * spec.memory
    elif spec.memory_swap and swap_accounting:
        memory["swap"] = spec.memory_swap
    if memory:
        res["memory"] = memory
    cpu: dict[str, int] = {}
    if spec.cpu_shares:
        cpu["shares"] = spec.cpu_shares
    if spec.nano_cpus:
        cpu["period"] = 100_000
        cpu["quota"] = spec.nano_cpus * 100_000 // 1_000_000_000
    else:
        if spec.cpu_period:
            cpu["period"] = spec.cpu_period
        if spec.cpu_quota:
            cpu["quota"] = spec.cpu_quota
    if cpu:
        res["cpu"] = cpu
    if spec.pids_limit:
        res["pids"] = {"limit": spec.pids_limit}
    return res


def oci_resources(spec: ContainerSpec, swap_accounting: bool) -> dict[str, Any]:
    """linux.resources of `spec`'s config.json (what `docker update` rewrites)."""
    return _resources(spec, swap_accounting)


def build_oci_config(
    spec: ContainerSpec, rootfs: Path, cgroup_path: str, *, swap_accounting: bool = True
) -> dict[str, Any]:
    """The OCI runtime config for `spec`; `rootfs` is read only for the user database."""
    if not spec.args:
        raise InvalidInput("no command specified")
    user = resolve_user(rootfs, spec.user)
    gids = list(dict.fromkeys([*user.additional_gids, *added_groups(rootfs, spec.group_add)]))
    caps = capabilities(spec.privileged, spec.cap_add, spec.cap_drop)
    namespaces: list[dict[str, str]] = [
        {"type": "pid"},
        {"type": "ipc"},
        {"type": "uts"},
        {"type": "mount"},
    ]
    if spec.network_ns is None:
        namespaces.append({"type": "network"})
    elif spec.network_ns != "host":
        namespaces.append({"type": "network", "path": spec.network_ns})
    linux: dict[str, Any] = {
        "namespaces": namespaces,
        "cgroupsPath": cgroup_path,
        "resources": _resources(spec, swap_accounting),
        "devices": []
        if spec.privileged
        else [
            {"path": p, "type": t, "major": ma, "minor": mi, "fileMode": 0o666, "uid": 0, "gid": 0}
            for p, t, ma, mi in DEFAULT_DEVICES
        ],
    }
    if not spec.privileged:
        linux["maskedPaths"] = list(MASKED_PATHS)
        linux["readonlyPaths"] = list(READONLY_PATHS)
        if spec.seccomp and spec.seccomp_profile:
            linux["seccomp"] = seccomp.resolve(seccomp.parse_profile(spec.seccomp_profile), caps)
        elif spec.seccomp:
            linux["seccomp"] = seccomp.default_profile(caps)
    process: dict[str, Any] = {
        "terminal": spec.tty,
        "user": {"uid": user.uid, "gid": user.gid, "additionalGids": gids},
        "args": list(spec.args),
        "env": process_env(spec.env, spec.tty, spec.hostname, user.home),
        "cwd": spec.cwd or "/",
        "capabilities": {k: caps for k in ("bounding", "effective", "permitted")},
        "rlimits": _rlimits(spec.ulimits),
        "noNewPrivileges": not spec.privileged,
    }
    if spec.tty:
        process["consoleSize"] = {"height": 24, "width": 80}
    config: dict[str, Any] = {
        "ociVersion": "1.0.2",
        "process": process,
        "root": {"path": "rootfs", "readonly": spec.readonly_rootfs},
        "mounts": oci_mounts(spec),
        "linux": linux,
    }
    if not spec.privileged:
        config["hooks"] = nodev_rootfs_hooks(rootfs, spec.readonly_rootfs)
    if spec.hostname:
        config["hostname"] = spec.hostname
    return config
