import time

import pytest

from runtime.containers.state import load_state
from runtime.containers.stats import read_stats
from runtime.containers.top import top
from runtime.errors import Conflict

pytestmark = pytest.mark.privileged


def test_top_lists_the_container_processes_only(runtime_paths, containers):
    cid = containers("sh", "-c", "sleep 301 & exec sleep 302", start=True)
    time.sleep(0.3)
    titles, processes = top(runtime_paths, cid)
    assert "PID" in titles and "CMD" in titles
    commands = [p[titles.index("CMD")] for p in processes]
    assert sorted(commands) == ["sleep 301", "sleep 302"]
    state = load_state(runtime_paths, cid)
    assert str(state.pid) in [p[titles.index("PID")] for p in processes]


def test_top_with_ps_args(runtime_paths, containers):
    cid = containers("sleep", "303", start=True)
    titles, processes = top(runtime_paths, cid, "-o pid,comm")
    assert titles == ["PID", "COMMAND"]
    assert [p[1] for p in processes] == ["sleep"]


def test_top_of_stopped_container_is_a_conflict(runtime_paths, containers):
    cid = containers("true")
    with pytest.raises(Conflict):
        top(runtime_paths, cid)


def test_stats_has_memory_cpu_and_pids(runtime_paths, containers):
    cid = containers(
        "sh",
        "-c",
        "head -c 8000000 /dev/zero > /dev/shm/blob; exec sleep 300",
        start=True,
        memory=256 * 1024 * 1024,
        pids_limit=50,
    )
    time.sleep(0.5)
    s = read_stats(runtime_paths, cid)
    assert s.running
    assert s.memory_usage > 8_000_000
    assert s.memory_limit == 256 * 1024 * 1024
    assert s.cpu_total_ns > 0
    assert s.system_cpu_usage > s.cpu_total_ns
    assert s.online_cpus >= 1
    assert s.pids_current >= 1 and s.pids_limit == 50


def test_stats_of_stopped_container_are_empty(runtime_paths, containers):
    cid = containers("true")
    s = read_stats(runtime_paths, cid)
    assert not s.running and s.memory_usage == 0
