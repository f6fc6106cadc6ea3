import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runtime import cgroups
from runtime.containers import lifecycle
from runtime.containers.logs import read_log_chunks
from runtime.containers.state import Status, load_state
from runtime.errors import Conflict, NotFound

pytestmark = pytest.mark.privileged


def output(paths, cid) -> str:
    return b"".join(data for _, data in read_log_chunks(paths, cid)).decode()


def run(paths, containers, *args, **kwargs):
    cid = containers(*args, start=True, **kwargs)
    state = lifecycle.wait(paths, cid, timeout=30)
    return cid, state, output(paths, cid)


def test_first_process_is_pid_1_and_sees_no_host_process(runtime_paths, containers):
    cid, state, out = run(
        runtime_paths, containers, "sh", "-c", "echo $$; ls /proc | grep -c '^[0-9]'"
    )
    assert state.status == Status.exited and state.exit_code == 0
    pid, visible = out.split()
    assert pid == "1"
    assert int(visible) <= 3


def test_hostname_mounts_and_ipc_are_its_own(runtime_paths, containers):
    cid, state, out = run(
        runtime_paths,
        containers,
        "sh",
        "-c",
        "hostname; for n in ipc mnt uts; do readlink /proc/self/ns/$n; done; "
        "cat /proc/self/mountinfo",
        hostname="boxy",
    )
    lines = out.splitlines()
    assert lines[0] == "boxy"
    assert lines[1] != os.readlink("/proc/self/ns/ipc")
    assert lines[2] != os.readlink("/proc/self/ns/mnt")
    assert lines[3] != os.readlink("/proc/self/ns/uts")
    assert os.uname().nodename != "boxy"
    container_points = {line.split()[4] for line in lines[4:]}
    assert "/" in container_points and "/proc" in container_points
    assert not any(p.startswith(("/work", "/tmp/")) for p in container_points)


def test_exit_code_is_recorded(runtime_paths, containers):
    cid, state, _ = run(runtime_paths, containers, "sh", "-c", "exit 42")
    assert state.status == Status.exited
    assert state.exit_code == 42
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z", state.finished_at)
    assert state.finished_at >= state.started_at


def test_memory_limit_ends_in_oom_kill(runtime_paths, containers):
    cid, state, _ = run(
        runtime_paths,
        containers,
        "sh",
        "-c",
        "exec tail -c 67108864 /dev/zero",
        memory=16 * 1024 * 1024,
        memory_swap=16 * 1024 * 1024,
    )
    assert state.oom_killed is True
    assert state.exit_code == 137


def test_pids_limit_stops_a_fork_bomb(runtime_paths, containers):
    cid = containers(
        "sh", "-c", "(for i in $(seq 1 50); do sleep 300 & done); exec sleep 300", pids_limit=10
    )
    lifecycle.start(runtime_paths, cid)
    deadline = time.monotonic() + 10
    while "can't fork" not in output(runtime_paths, cid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "can't fork" in output(runtime_paths, cid)
    assert len(cgroups.pids(cgroups.container_cgroup(cid))) <= 10
    assert lifecycle.refresh(runtime_paths, cid).status == Status.running


def test_remove_leaves_no_mount_cgroup_or_conmon(runtime_paths, containers):
    cid = containers("sleep", "300", start=True)
    state = load_state(runtime_paths, cid)
    conmon_pid = state.conmon_pid
    assert Path(f"/proc/{conmon_pid}").exists()
    lifecycle.remove(runtime_paths, cid, force=True)
    assert str(runtime_paths.container(cid)) not in Path("/proc/self/mountinfo").read_text()
    assert not cgroups.exists(cgroups.container_cgroup(cid))
    assert (
        not Path(f"/proc/{conmon_pid}").exists()
        or b"conmon" not in Path(f"/proc/{conmon_pid}/cmdline").read_bytes()
    )
    assert not runtime_paths.container(cid).exists()
    assert not runtime_paths.container_run(cid).exists()


def test_remove_of_running_container_needs_force(runtime_paths, containers):
    cid = containers("sleep", "300", start=True)
    with pytest.raises(Conflict):
        lifecycle.remove(runtime_paths, cid, force=False)
    assert load_state(runtime_paths, cid).status == Status.running


def test_container_init_holds_only_stdio_fds(runtime_paths, containers):
    cid = containers("sleep", "300", start=True)
    pid = load_state(runtime_paths, cid).pid
    assert sorted(int(fd) for fd in os.listdir(f"/proc/{pid}/fd")) == [0, 1, 2]


def test_stop_honours_timeout_when_signal_is_ignored(runtime_paths, containers):
    cid = containers("sh", "-c", "trap '' TERM; while true; do sleep 0.1; done", start=True)
    time.sleep(0.2)
    began = time.monotonic()
    state = lifecycle.stop(runtime_paths, cid, timeout=1)
    took = time.monotonic() - began
    assert 0.9 <= took < 5
    assert state.status == Status.exited
    assert state.exit_code == 137


def test_stop_with_signal_handled_gives_its_exit_code(runtime_paths, containers):
    cid = containers("sh", "-c", "trap 'exit 3' TERM; while true; do sleep 0.1; done", start=True)
    time.sleep(0.2)
    began = time.monotonic()
    state = lifecycle.stop(runtime_paths, cid, timeout=10)
    assert time.monotonic() - began < 5
    assert state.exit_code == 3


def test_kill_with_a_signal(runtime_paths, containers):
    cid = containers("sleep", "300", start=True)
    state = lifecycle.kill(runtime_paths, cid, "SIGKILL")
    assert state.status == Status.exited
    assert state.exit_code == 137
    with pytest.raises(Conflict):
        lifecycle.kill(runtime_paths, cid, "SIGTERM")


def test_kill_with_user_signal_reaches_handler(runtime_paths, containers):
    cid = containers(
        "sh", "-c", "trap 'echo got-usr1; exit 0' USR1; while true; do sleep 0.1; done", start=True
    )
    time.sleep(0.3)
    lifecycle.kill(runtime_paths, cid, "USR1")
    state = lifecycle.wait(runtime_paths, cid, timeout=10)
    assert state.exit_code == 0
    assert "got-usr1" in output(runtime_paths, cid)


def test_pause_and_unpause(runtime_paths, containers):
    cid = containers("sh", "-c", "while true; do echo tick; sleep 0.05; done", start=True)
    time.sleep(0.3)
    state = lifecycle.pause(runtime_paths, cid)
    assert state.status == Status.paused
    frozen = cgroups.CGROUP_ROOT / "freezer" / cgroups.container_cgroup(cid).lstrip("/")
    if cgroups.version() == "v1":
        assert (frozen / "freezer.state").read_text().strip() == "FROZEN"
    before = len(output(runtime_paths, cid))
    time.sleep(0.3)
    assert len(output(runtime_paths, cid)) == before
    with pytest.raises(Conflict):
        lifecycle.pause(runtime_paths, cid)
    assert lifecycle.unpause(runtime_paths, cid).status == Status.running
    time.sleep(0.3)
    assert len(output(runtime_paths, cid)) > before


def test_start_again_after_exit_keeps_the_rootfs(runtime_paths, containers):
    cid = containers("sh", "-c", "echo run >> /counter; cat /counter | wc -l", start=True)
    lifecycle.wait(runtime_paths, cid, timeout=10)
    lifecycle.start(runtime_paths, cid)
    state = lifecycle.wait(runtime_paths, cid, timeout=10)
    assert state.restart_count == 1
    assert output(runtime_paths, cid).split() == ["1", "2"]


def test_start_twice_is_a_conflict(runtime_paths, containers):
    cid = containers("sleep", "300", start=True)
    with pytest.raises(Conflict):
        lifecycle.start(runtime_paths, cid)


def test_missing_executable_fails_start_with_127(runtime_paths, containers):
    cid = containers("/no/such/binary")
    with pytest.raises(Exception, match="(?i)not found|no such file"):
        lifecycle.start(runtime_paths, cid)
    state = load_state(runtime_paths, cid)
    assert state.status == Status.created
    assert state.exit_code == 127


def test_user_by_name_comes_from_container_passwd(runtime_paths, containers):
    cid, state, out = run(runtime_paths, containers, "id", user="app")
    assert "uid=1234" in out and "gid=2345" in out and "3456" in out


def test_container_survives_its_caller(runtime_paths, containers):
    cid = containers("sleep", "300")
    code = (
        "import sys; from pathlib import Path; from runtime.paths import RuntimePaths; "
        "from runtime.containers import lifecycle; "
        f"p = RuntimePaths(Path({str(runtime_paths.root)!r}), Path({str(runtime_paths.run)!r})); "
        f"lifecycle.start(p, {cid!r})"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[3])
    time.sleep(0.3)
    state = lifecycle.refresh(runtime_paths, cid)
    assert state.status == Status.running
    assert Path(f"/proc/{state.pid}").exists()


def test_list_ids(runtime_paths, containers):
    a = containers("true")
    b = containers("true")
    assert lifecycle.list_ids(runtime_paths) == sorted([a, b])


def test_seccomp_refuses_what_the_container_has_no_capability_for(runtime_paths, containers):
    _, refused, out = run(runtime_paths, containers, "busybox", "unshare", "-U", "true")
    assert refused.exit_code != 0
    assert "Operation not permitted" in out
    _, with_cap, _ = run(
        runtime_paths, containers, "busybox", "unshare", "-m", "true", cap_add=["SYS_ADMIN"]
    )
    assert with_cap.exit_code == 0
    _, unconfined, _ = run(
        runtime_paths, containers, "busybox", "unshare", "-U", "true", seccomp=False
    )
    assert unconfined.exit_code == 0


def test_a_state_change_racing_remove_finds_the_container_gone(
    runtime_paths, containers, monkeypatch
):
    cid = containers("sleep", "300", start=True)
    delete = shutil.rmtree
    raced = []

    def racing_delete(path, *args, **kwargs):
        if Path(path).parent == runtime_paths.containers:
            with pytest.raises(NotFound):
                lifecycle.refresh(runtime_paths, cid)
            raced.append(path)
        return delete(path, *args, **kwargs)

    monkeypatch.setattr(shutil, "rmtree", racing_delete)
    lifecycle.remove(runtime_paths, cid, force=True)
    assert raced
    assert list(runtime_paths.containers.iterdir()) == []
