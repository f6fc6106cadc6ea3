"""What `docker stats` shows for one container, read from its cgroup."""

import os
from dataclasses import asdict, dataclass

from runtime import cgroups
from runtime.containers.lifecycle import refresh
from runtime.containers.state import now_rfc3339
from runtime.paths import RuntimePaths


@dataclass
class Stats(cgroups.CgroupStats):
    """The cgroup's figures plus what Docker reports beside them."""

    read: str = ""
    running: bool = False
    system_cpu_usage: int = 0
    online_cpus: int = 0


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
    read = now_rfc3339()
    if not state.running:
        return Stats(read=read, running=False, online_cpus=os.cpu_count() or 1)
    return Stats(
        **asdict(cgroups.read_stats(cgroups.container_cgroup(cid))),
        read=read,
        running=True,
        system_cpu_usage=system_cpu_usage(),
        online_cpus=len(os.sched_getaffinity(0)),
    )
