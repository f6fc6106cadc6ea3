"""`docker update` on a running container's cgroup, and restart policies that outlive the
platform's own processes and a host reboot."""

import json
import os
import secrets
import signal
import time
import uuid
from pathlib import Path

import pytest

from dockyard.ephemeral import ephemeral_platform, remove_all_containers
from runtime import cgroups
from runtime.containers import layout
from runtime.paths import RuntimePaths

pytestmark = [pytest.mark.e2e, pytest.mark.privileged]

MIB = 1024 * 1024


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _until(what, deadline_s: float, describe: str):
    deadline = time.monotonic() + deadline_s
    while True:
        got = what()
        if got:
            return got
        assert time.monotonic() < deadline, f"timed out waiting for {describe}"
        time.sleep(0.1)


def _inspect(platform, name: str) -> dict:
    out = platform.docker("inspect", name)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)[0]


def _memory_limit(cid: str) -> int:
    path = cgroups.container_cgroup(cid).lstrip("/")
    if cgroups.version() == "v2":
        return int((cgroups.CGROUP_ROOT / path / "memory.max").read_text())
    return int((cgroups.CGROUP_ROOT / "memory" / path / "memory.limit_in_bytes").read_text())


def _pids_max(cid: str) -> str:
    path = cgroups.container_cgroup(cid).lstrip("/")
    base = cgroups.CGROUP_ROOT if cgroups.version() == "v2" else cgroups.CGROUP_ROOT / "pids"
    return (base / path / "pids.max").read_text().strip()


def test_update_changes_a_running_containers_cgroup_and_keeps_it(platform):
    name = _name("upd")
    run = platform.docker("run", "-d", "--name", name, "-m", "64m", "busybox", "sleep", "300")
    assert run.returncode == 0, run.stderr
    cid = run.stdout.strip()
    assert _memory_limit(cid) == 64 * MIB
    updated = platform.docker(
        "update", "-m", "96m", "--memory-swap", "200m", "--pids-limit", "50",
        "--cpu-shares", "512", "--cpus", "0.5", name,
    )  # fmt: skip
    assert updated.returncode == 0, updated.stderr
    assert _memory_limit(cid) == 96 * MIB
    assert _pids_max(cid) == "50"
    host = _inspect(platform, name)["HostConfig"]
    assert (host["Memory"], host["MemorySwap"]) == (96 * MIB, 200 * MIB)
    assert (host["PidsLimit"], host["CpuShares"], host["NanoCpus"]) == (50, 512, 500_000_000)
    # Kept for the next start.
    assert platform.docker("restart", "-t", "0", name).returncode == 0
    assert _memory_limit(cid) == 96 * MIB
    assert _pids_max(cid) == "50"
    # Docker's rule: memory above the swap already set needs the swap too.
    refused = platform.docker("update", "-m", "300m", name)
    assert refused.returncode != 0 and "memoryswap" in refused.stderr
    platform.docker("rm", "-f", name)


def test_update_through_docker_py_answers_warnings(platform):
    docker = pytest.importorskip("docker")
    client = docker.APIClient(base_url=platform.docker_host)
    try:
        c = client.create_container("busybox", ["sleep", "300"], name=_name("updpy"))
        try:
            client.start(c)
            answer = client.update_container(c, mem_limit="80m", memswap_limit="160m")
            assert answer == {"Warnings": []}
            assert _memory_limit(c["Id"]) == 80 * MIB
            answer = client.update_container(c, restart_policy={"Name": "always"})
            assert client.inspect_container(c)["HostConfig"]["RestartPolicy"]["Name"] == "always"
        finally:
            client.remove_container(c, force=True)
    finally:
        client.close()


def _restart_count(platform, name: str) -> int:
    return _inspect(platform, name)["RestartCount"]


def test_on_failure_counts_and_update_changes_the_policy(platform):
    name = _name("flaky")
    run = platform.docker(
        "run", "-d", "--name", name, "--restart", "on-failure:2", "busybox", "sh", "-c", "exit 3"
    )
    assert run.returncode == 0, run.stderr

    def gave_up():
        state = _inspect(platform, name)
        return state["RestartCount"] == 2 and not state["State"]["Running"] and state

    state = _until(gave_up, 30, "two restarts, then none")
    assert state["State"]["ExitCode"] == 3
    # An always container restarts until its policy is changed to no.
    looping = _name("loop")
    run = platform.docker(
        "run", "-d", "--name", looping, "--restart", "always", "busybox", "sh", "-c", "sleep 1"
    )
    assert run.returncode == 0, run.stderr
    _until(lambda: _restart_count(platform, looping) >= 1, 30, "a restart of an always one")
    assert platform.docker("update", "--restart", "no", looping).returncode == 0
    stopped = _until(
        lambda: (s := _inspect(platform, looping))["State"]["Status"] == "exited" and s,
        30,
        "the loop to end",
    )
    assert stopped["HostConfig"]["RestartPolicy"]["Name"] == "no"
    platform.docker("rm", "-f", name, looping)


def test_a_container_stopped_by_its_user_stays_stopped(platform):
    name = _name("stay")
    run = platform.docker(
        "run", "-d", "--name", name, "--restart", "always", "busybox", "sleep", "300"
    )
    assert run.returncode == 0, run.stderr
    assert platform.docker("stop", "-t", "0", name).returncode == 0
    # A restart would come within the first back-off (100 ms); watch for two seconds.
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        state = _inspect(platform, name)
        assert state["State"]["Status"] == "exited"
        assert state["RestartCount"] == 0
    platform.docker("rm", "-f", name)


def _agent_pid(run_dir: Path) -> int:
    """The agent of the platform whose run directory is `run_dir` (other platforms of the
    test session run agents too)."""
    wanted = f"DOCKYARD_RUN_DIR={run_dir}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            env = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"run_agent" in argv and wanted in env:
            return int(entry.name)
    raise AssertionError(f"no agent runs for {run_dir}")


def test_always_comes_back_after_the_agent_is_killed(tmp_path):
    """The agent is SIGKILLed and the container dies before the new agent watches: its
    reconcile finds the exit and applies the policy."""
    run_dir = Path(os.environ["DOCKYARD_RUN_DIR"]) / f"rp{secrets.token_hex(2)}"
    with ephemeral_platform(tmp_path / "root", run_dir) as platform:
        try:
            made = platform.docker(
                "run", "-d", "--name", "phoenix", "--restart", "always", "busybox", "sleep", "300"
            )
            assert made.returncode == 0, made.stderr
            pid = _inspect(platform, "phoenix")["State"]["Pid"]
            agent = _agent_pid(run_dir)
            os.kill(agent, signal.SIGKILL)
            os.kill(pid, signal.SIGKILL)

            def back():
                state = _inspect(platform, "phoenix")
                return state["State"]["Running"] and state["State"]["Pid"] != pid and state

            state = _until(back, 30, "the container to come back")
            assert state["RestartCount"] == 1
        finally:
            remove_all_containers(platform)


def test_restart_policies_after_a_reboot(tmp_path):
    root = tmp_path / "root"
    run_dir = Path(os.environ["DOCKYARD_RUN_DIR"]) / f"rb{secrets.token_hex(2)}"
    paths = RuntimePaths(root=root, run=run_dir)
    doomed = []
    with ephemeral_platform(root, run_dir) as platform:
        for name, policy in (("keep", "always"), ("unless", "unless-stopped"), ("plain", "no")):
            made = platform.docker(
                "run", "-d", "--name", name, "--restart", policy, "busybox", "sleep", "300"
            )
            assert made.returncode == 0, made.stderr
            state = _inspect(platform, name)
            conmon = int((layout.bundle(paths, state["Id"]) / "conmon.pid").read_text())
            doomed += [conmon, state["State"]["Pid"]]
        made = platform.docker(
            "run", "-d", "--name", "parked", "--restart", "always", "busybox", "sleep", "300"
        )
        assert made.returncode == 0, made.stderr
        assert platform.docker("stop", "-t", "0", "parked").returncode == 0
    # The platform is down; a reboot takes every container's process and conmon with it.
    for pid in doomed:
        os.kill(pid, signal.SIGKILL)
    with ephemeral_platform(root, run_dir, images=()) as platform:
        try:
            states = {
                name: _inspect(platform, name)["State"]["Status"]
                for name in ("keep", "unless", "plain", "parked")
            }
            assert states == {
                "keep": "running",
                "unless": "running",
                "plain": "exited",
                "parked": "exited",
            }
            assert platform.docker("exec", "keep", "true").returncode == 0
        finally:
            remove_all_containers(platform)
