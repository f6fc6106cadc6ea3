"""Cgroup host fix-ups, container cgroup paths and resource counters, for v1 and v2.

Limits are never written here: they go through the OCI spec and crun applies them.
This module only prepares the host so crun can run, and reads counters back.
"""

import ctypes
import os
from dataclasses import dataclass, field
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
PARENT = "dockyard"
_prepared = False


def version() -> str:
    return "v2" if (CGROUP_ROOT / "cgroup.controllers").exists() else "v1"


def _v1_mounted_controllers() -> set[str]:
    found: set[str] = set()
    with open("/proc/self/mountinfo") as f:
        for line in f:
            pre, _, post = line.partition(" - ")
            fields = post.split()
            if len(fields) >= 3 and fields[0] == "cgroup":
                found.update(fields[2].split(","))
    return found


def prepare_host() -> None:
    """Mount as v1 every controller the hybrid v2 mount holds without a v1 twin.

    crun 1.8 on a hybrid host refuses to run while /sys/fs/cgroup/unified lists a
    controller (it would have no v1 hierarchy to place the container in).
    """
    global _prepared
    if _prepared or version() == "v2":
        return
    listed = CGROUP_ROOT / "unified" / "cgroup.controllers"
    if not listed.exists():
        return
    missing = set(listed.read_text().split()) - _v1_mounted_controllers()
    libc = ctypes.CDLL(None, use_errno=True)
    for name in sorted(missing):
        target = CGROUP_ROOT / name
        target.mkdir(exist_ok=True)
        if libc.mount(b"cgroup", str(target).encode(), b"cgroup", 0, name.encode()) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"cannot mount cgroup controller {name}: {os.strerror(err)}")
    _prepared = True


def container_cgroup(container_id: str) -> str:
    """The cgroupsPath given to crun: the same relative path in every hierarchy."""
    return f"/{PARENT}/{container_id}"


def _v1_dir(controller: str, cgroup_path: str) -> Path:
    return CGROUP_ROOT / controller / cgroup_path.lstrip("/")


def _dirs(cgroup_path: str) -> list[Path]:
    if version() == "v2":
        return [CGROUP_ROOT / cgroup_path.lstrip("/")]
    roots = [p for p in CGROUP_ROOT.iterdir() if p.is_dir() and p.name != "unified"]
    return [r / cgroup_path.lstrip("/") for r in roots]


def exists(cgroup_path: str) -> bool:
    return any(d.is_dir() for d in _dirs(cgroup_path))


def pids(cgroup_path: str) -> list[int]:
    """Every pid in the container's cgroup (including nested cgroups), sorted."""
    base = (
        CGROUP_ROOT / cgroup_path.lstrip("/") if version() == "v2" else _v1_dir("pids", cgroup_path)
    )
    found: set[int] = set()
    if not base.is_dir():
        return []
    for dirpath, _dirnames, filenames in os.walk(base):
        if "cgroup.procs" in filenames:
            with open(os.path.join(dirpath, "cgroup.procs")) as f:
                found.update(int(x) for x in f.read().split())
    return sorted(found)


def remove(cgroup_path: str) -> None:
    """Remove what crun left behind (it normally deletes the cgroup itself)."""
    for d in _dirs(cgroup_path):
        if not d.is_dir():
            continue
        for dirpath, _dirnames, _files in sorted(os.walk(d), key=lambda t: -len(t[0])):
            try:
                os.rmdir(dirpath)
            except OSError:
                pass


@dataclass
class CgroupStats:
    cpu_total_ns: int = 0
    cpu_percpu_ns: list[int] = field(default_factory=list)
    cpu_user_ns: int = 0
    cpu_system_ns: int = 0
    memory_usage: int = 0
    memory_max_usage: int = 0
    memory_limit: int = 0
    memory_cache: int = 0
    memory_stat: dict[str, int] = field(default_factory=dict)
    pids_current: int = 0
    pids_limit: int = 0
    blkio_read_bytes: int = 0
    blkio_write_bytes: int = 0
    oom_kills: int = 0


def frozen(cgroup_path: str) -> bool:
    """Whether every task of the cgroup is frozen (not only asked to freeze)."""
    if version() == "v2":
        events = _read_kv(CGROUP_ROOT / cgroup_path.lstrip("/") / "cgroup.events")
        return events.get("frozen") == 1
    try:
        state = (_v1_dir("freezer", cgroup_path) / "freezer.state").read_text().strip()
    except OSError:
        return False
    return state == "FROZEN"


def _read_int(path: Path, default: int = 0) -> int:
    try:
        text = path.read_text().strip()
    except OSError:
        return default
    if text == "max":
        return 0
    try:
        return int(text)
    except ValueError:
        return default


def _read_kv(path: Path) -> dict[str, int]:
    out: dict[str, int] = {}
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return out
    for line in lines:
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("-").isdigit():
            out[parts[0]] = int(parts[1])
    return out


def _host_memory() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def oom_kills(cgroup_path: str) -> int:
    if version() == "v2":
        return _read_kv(CGROUP_ROOT / cgroup_path.lstrip("/") / "memory.events").get("oom_kill", 0)
    return _read_kv(_v1_dir("memory", cgroup_path) / "memory.oom_control").get("oom_kill", 0)


def read_stats(cgroup_path: str) -> CgroupStats:
    return _read_v2(cgroup_path) if version() == "v2" else _read_v1(cgroup_path)


def _read_v1(cgroup_path: str) -> CgroupStats:
    s = CgroupStats()
    acct = _v1_dir("cpuacct", cgroup_path)
    s.cpu_total_ns = _read_int(acct / "cpuacct.usage")
    try:
        s.cpu_percpu_ns = [int(x) for x in (acct / "cpuacct.usage_percpu").read_text().split()]
    except OSError:
        s.cpu_percpu_ns = []
    ticks = _read_kv(acct / "cpuacct.stat")
    tick_ns = 1_000_000_000 // os.sysconf("SC_CLK_TCK")
    s.cpu_user_ns = ticks.get("user", 0) * tick_ns
    s.cpu_system_ns = ticks.get("system", 0) * tick_ns

    mem = _v1_dir("memory", cgroup_path)
    s.memory_usage = _read_int(mem / "memory.usage_in_bytes")
    s.memory_max_usage = _read_int(mem / "memory.max_usage_in_bytes")
    limit = _read_int(mem / "memory.limit_in_bytes")
    s.memory_limit = min(limit, _host_memory()) if limit else _host_memory()
    s.memory_stat = _read_kv(mem / "memory.stat")
    s.memory_cache = s.memory_stat.get("total_cache", s.memory_stat.get("cache", 0))
    s.oom_kills = _read_kv(mem / "memory.oom_control").get("oom_kill", 0)

    pid_dir = _v1_dir("pids", cgroup_path)
    s.pids_current = _read_int(pid_dir / "pids.current")
    s.pids_limit = _read_int(pid_dir / "pids.max")

    try:
        lines = (_v1_dir("blkio", cgroup_path) / "blkio.throttle.io_service_bytes").read_text()
    except OSError:
        lines = ""
    for line in lines.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] == "Read":
            s.blkio_read_bytes += int(parts[2])
        elif len(parts) == 3 and parts[1] == "Write":
            s.blkio_write_bytes += int(parts[2])
    return s


def _read_v2(cgroup_path: str) -> CgroupStats:
    s = CgroupStats()
    d = CGROUP_ROOT / cgroup_path.lstrip("/")
    cpu = _read_kv(d / "cpu.stat")
    s.cpu_total_ns = cpu.get("usage_usec", 0) * 1000
    s.cpu_user_ns = cpu.get("user_usec", 0) * 1000
    s.cpu_system_ns = cpu.get("system_usec", 0) * 1000
    s.memory_usage = _read_int(d / "memory.current")
    s.memory_max_usage = _read_int(d / "memory.peak")
    limit = _read_int(d / "memory.max")
    s.memory_limit = min(limit, _host_memory()) if limit else _host_memory()
    s.memory_stat = _read_kv(d / "memory.stat")
    s.memory_cache = s.memory_stat.get("file", 0)
    s.oom_kills = _read_kv(d / "memory.events").get("oom_kill", 0)
    s.pids_current = _read_int(d / "pids.current")
    s.pids_limit = _read_int(d / "pids.max")
    try:
        lines = (d / "io.stat").read_text().splitlines()
    except OSError:
        lines = []
    for line in lines:
        for item in line.split()[1:]:
            key, _, value = item.partition("=")
            if key == "rbytes":
                s.blkio_read_bytes += int(value)
            elif key == "wbytes":
                s.blkio_write_bytes += int(value)
    return s
