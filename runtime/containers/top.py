"""`docker top`: the host's `ps` output, kept to the processes in the container's cgroup."""

import shlex
import subprocess

from runtime import cgroups
from runtime.containers.lifecycle import refresh
from runtime.errors import Conflict, InvalidInput, RuntimeFailure
from runtime.paths import RuntimePaths


def top(paths: RuntimePaths, cid: str, ps_args: str = "-ef") -> tuple[list[str], list[list[str]]]:
    state = refresh(paths, cid)
    if not state.running:
        raise Conflict(f"container {cid} is not running")
    members = set(cgroups.pids(cgroups.container_cgroup(cid)))
    proc = subprocess.run(
        ["ps", *shlex.split(ps_args)], capture_output=True, text=True, close_fds=True
    )
    if proc.returncode != 0:
        raise RuntimeFailure(f"ps failed: {proc.stderr.strip()}")
    lines = proc.stdout.splitlines()
    if not lines:
        return [], []
    titles = lines[0].split()
    if "PID" not in titles:
        raise InvalidInput(f"couldn't find PID field in ps output for args {ps_args!r}")
    at = titles.index("PID")
    processes = []
    for line in lines[1:]:
        fields = line.split(None, len(titles) - 1)
        if len(fields) > at and fields[at].isdigit() and int(fields[at]) in members:
            processes.append(fields)
    return titles, processes
