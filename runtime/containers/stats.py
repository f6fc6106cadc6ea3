"""What `docker stats` shows for one container, read from its cgroup."""

import os
from dataclasses import dataclass, field

from runtime import cgroups
from runtime.containers.lifecycle import refresh
from runtime.containers.state import now_rfc3339
from runtime.paths import RuntimePaths


@dataclass
class Stats:
    read: str
    running: bool
    cpu_total: int = 0
    cpu_percpu: list[int] = field(default_factory=list)
    cpu_user: int = 0
    cpu_kernel: int = 0
    system_cpu_usage: int = 0
    online_cpus: int = 0
    memory_usage: int = 0
    memory_max_usage: int = 0
    memory_limit: int = 0
    memory_cache: int = 0
    memory_stat: dict[str, int] = field(default_factory=dict)
    pids_current: int = 0
    pids_limit: int = 0
    blkio_read_bytes: int = 0
    blkio_write_bytes: int = 0


def system_cpu_usage() -> int:
    """Host CPU time in nanoseconds, as Docker computes it from /proc/stat."""
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu "):
                ticks = sum(int(x) for x in line.split()[1:8])
                return ticks * 1_000_000_000 // os.sysconf("SC_CLK_TCK")
    return 0


def read_stats(paths: RuntimePaths, cid: str) -> Stats:
    state = refresh(paths, cid)
    stats = Stats(read=now_rfc3339(), running=state.running, online_cpus=os.cpu_count() or 1)
    if not state.running:
        return stats
    c = cgroups.read_stats(cgroups.container_cgroup(cid))
    stats.cpu_total = c.cpu_total_ns
    stats.cpu_percpu = c.cpu_percpu_ns
    stats.cpu_user = c.cpu_user_ns
    stats.cpu_kernel = c.cpu_system_ns
    stats.system_cpu_usage = system_cpu_usage()
    stats.online_cpus = len(os.sched_getaffinity(0))
    stats.memory_usage = c.memory_usage
    stats.memory_max_usage = c.memory_max_usage
    stats.memory_limit = c.memory_limit
    stats.memory_cache = c.memory_cache
    stats.memory_stat = c.memory_stat
    stats.pids_current = c.pids_current
    stats.pids_limit = c.pids_limit
    stats.blkio_read_bytes = c.blkio_read_bytes
    stats.blkio_write_bytes = c.blkio_write_bytes
    return stats
