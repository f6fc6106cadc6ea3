"""Container lifecycle: create, start, stop, kill, pause, refresh, remove, under conmon + crun.

A container's files are laid out as `layout` says, plus a short run directory for the attach
socket symlink. conmon supervises the container and writes its exit code to
`layout.exit_file(id)`; nothing else needs to stay alive, so containers outlive every
Dockyard process.
"""

import json
import os
import shutil
import time
from pathlib import Path

from inotify_simple import flags

from runtime import cgroups
from runtime.containers import claims, conmon, crun, logtrim, mounts
from runtime.containers.layout import (
    bundle,
    exit_file,
    exits_dir,
    load_spec,
    locked,
)
from runtime.containers.resources import swap_accounting
from runtime.containers.spec import (
    ContainerSpec,
    build_oci_config,
    linked_env,
    signal_number,
)
from runtime.containers.state import (
    ContainerState,
    Status,
    load_state,
    now_rfc3339,
    save_state,
)
from runtime.containers.watching import watching
from runtime.errors import Conflict, RuntimeFailure
from runtime.files import write_json_atomic
from runtime.paths import RuntimePaths

KILL_WAIT = 30.0
POLL_S = 0.5
# How long a start waits for clients that attached before it to connect (see claims).
ATTACH_WAIT = 5.0
# How long a pause waits for the freezer to report every task frozen.
FREEZE_WAIT = 2.0


def create(
    paths: RuntimePaths, cid: str, spec: ContainerSpec, lowerdirs: list[Path]
) -> ContainerState:
    """Lay out the bundle, mount the rootfs overlay and write config.json."""
    if not lowerdirs:
        raise RuntimeFailure("a container needs at least one image layer")
    b = bundle(paths, cid)
    try:
        b.mkdir(parents=True)
    except FileExistsError:
        raise Conflict(f"container {cid} already exists") from None
    try:
        for sub in ("upper", "work", "rootfs"):
            (b / sub).mkdir()
        write_json_atomic(b / "lowerdirs.json", {"lowerdirs": [str(d) for d in lowerdirs]})
        write_json_atomic(b / "spec.json", spec.to_dict())
        mounts.mount_overlay(
            lowerdirs, b / "upper", b / "work", b / "rootfs", nodev=not spec.privileged
        )
        config = build_oci_config(
            spec, b / "rootfs", cgroups.container_cgroup(cid), swap_accounting=swap_accounting()
        )
        # Derived from spec.json and lowerdirs.json, so it need not be synced (nor is it by
        # containerd); they and the state are.
        write_json_atomic(b / "config.json", config, durable=False)
        state = ContainerState(
            id=cid,
            created_at=now_rfc3339(),
            tty=spec.tty,
            open_stdin=spec.open_stdin,
            stdin_once=spec.stdin_once,
        )
        save_state(paths, state, durable=True)
    except BaseException:
        mounts.unmount(b / "rootfs")
        shutil.rmtree(b, ignore_errors=True)
        raise
    return state


def remount(paths: RuntimePaths, cid: str) -> None:
    """Mount the rootfs again if it is not mounted (after a reboot)."""
    b = bundle(paths, cid)
    if os.path.ismount(b / "rootfs"):
        return
    lower = json.loads((b / "lowerdirs.json").read_text())["lowerdirs"]
    privileged = load_spec(paths, cid).privileged
    mounts.mount_overlay(
        [Path(d) for d in lower], b / "upper", b / "work", b / "rootfs", nodev=not privileged
    )


def _failure_exit_code(message: str) -> int:
    lower = message.lower()
    if "not found" in lower or "no such file" in lower:
        return 127
    if "permission denied" in lower:
        return 126
    return 128


def _set_link_env(paths: RuntimePaths, cid: str, spec: ContainerSpec, links: list[str]) -> None:
    """Put this start's link variables in config.json: they carry the linked containers'
    addresses of now, which a restart of theirs may have changed."""
    b = bundle(paths, cid)
    config = json.loads((b / "config.json").read_text())
    env = linked_env(spec, b / "rootfs", links)
    if config["process"]["env"] != env:
        config["process"]["env"] = env
        write_json_atomic(b / "config.json", config, durable=False)


def start(paths: RuntimePaths, cid: str, link_env: list[str] | None = None) -> ContainerState:
    """Start a created or exited container: a fresh conmon + crun run on the same rootfs.
    `link_env` (Docker's link variables) replaces those of the last start."""
    refresh(paths, cid)
    with locked(paths, cid):
        state = load_state(paths, cid)
        if not state.can_start():
            raise Conflict(f"container {cid} is {state.status.value}, cannot start it")
        spec = load_spec(paths, cid)
        cgroups.prepare_host()
        remount(paths, cid)
        if link_env is not None:
            _set_link_env(paths, cid, spec, link_env)
        crun.forget(paths, cid)
        conmon.clear_run_files(paths, cid)
        try:
            pid = conmon.spawn(paths, cid, spec)
            claims.wait_withdrawn(paths, cid, ATTACH_WAIT)
            started_ns = time.time_ns()
            crun.start(paths, cid, pid)
        except RuntimeFailure as err:
            crun.forget(paths, cid)
            conmon.stop(paths, cid)
            state.error = str(err)
            state.exit_code = _failure_exit_code(str(err))
            save_state(paths, state)
            raise
        was_started = state.started_at != "0001-01-01T00:00:00Z"
        state.status = Status.running
        state.pid = pid
        state.conmon_pid = conmon.read_pid(bundle(paths, cid) / "conmon.pid")
        state.started_at = now_rfc3339(started_ns)
        state.finished_at = "0001-01-01T00:00:00Z"
        state.exit_code = 0
        state.oom_killed = False
        state.error = ""
        if was_started:
            state.restart_count += 1
        save_state(paths, state)
        return state


def refresh(paths: RuntimePaths, cid: str) -> ContainerState:
    """Record an exit conmon saw: exit code, finish time, OOM kill; then free the runtime."""
    with locked(paths, cid):
        state = load_state(paths, cid)
        if state.status not in (Status.running, Status.paused, Status.restarting):
            return state
        finished_ns, text = conmon.read_exit_file(paths, cid)
        if text is None:
            if conmon.alive(state.conmon_pid, cid):
                return state
            # conmon writes the exit file just before it exits: look once more.
            finished_ns, text = conmon.read_exit_file(paths, cid)
        cgroup = cgroups.container_cgroup(cid)
        if text is None:
            state.exit_code = 255
            state.error = "container supervisor exited unexpectedly"
            finished_ns = time.time_ns()
        else:
            try:
                state.exit_code = int(text)
            except ValueError:
                state.exit_code = 255
        state.oom_killed = (bundle(paths, cid) / "oom").exists() or cgroups.oom_kills(cgroup) > 0
        crun.forget(paths, cid, init_exited=text is not None)
        cgroups.remove(cgroup)
        state.status = Status.exited
        state.pid = 0
        state.conmon_pid = 0
        # The exit file's mtime comes from the kernel's coarse clock, which can read a few ms
        # behind; a container never finishes before it started.
        state.finished_at = max(now_rfc3339(finished_ns), state.started_at)
        save_state(paths, state)
        # conmon wrote its last record and closed the log before its exit file.
        logtrim.trim_exited(paths, cid)
        return state


def wait_exit(paths: RuntimePaths, cid: str, timeout: float | None = None) -> bool:
    """Wait until conmon records the container's exit; False on timeout."""
    deadline = None if timeout is None else time.monotonic() + timeout
    ef = exit_file(paths, cid)
    if ef.exists():
        return True
    exits_dir(paths).mkdir(parents=True, exist_ok=True)
    with watching((exits_dir(paths), flags.CLOSE_WRITE | flags.MOVED_TO | flags.CREATE)) as inotify:
        while not ef.exists():
            state = load_state(paths, cid)
            if state.status not in (Status.running, Status.paused, Status.restarting):
                return True
            if not conmon.alive(state.conmon_pid, cid):
                return True
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return False
            # Wake at least every POLL_S to notice a conmon that died without an exit file.
            inotify.read(timeout=int(1000 * min(POLL_S, left if left is not None else POLL_S)))
    return True


def wait(paths: RuntimePaths, cid: str, timeout: float | None = None) -> ContainerState:
    """Block until the container is no longer running and return its final state."""
    wait_exit(paths, cid, timeout)
    return refresh(paths, cid)


def _signal(paths: RuntimePaths, cid: str, signum: int) -> None:
    proc = crun.run(paths, "kill", cid, str(signum), check=False)
    if proc.returncode != 0 and not exit_file(paths, cid).exists():
        raise RuntimeFailure(crun.message(proc.stderr) or "cannot signal the container")


def kill(paths: RuntimePaths, cid: str, signal: str = "SIGKILL") -> ContainerState:
    signum = signal_number(signal)
    state = refresh(paths, cid)
    if not state.can_kill():
        raise Conflict(f"container {cid} is not running")
    _signal(paths, cid, signum)
    if state.status == Status.paused and signum == 9:
        # A frozen task cannot act on SIGKILL until it is thawed.
        crun.run(paths, "resume", cid, check=False)
        _set_status(paths, cid, Status.running)
    if signum == 9:
        wait_exit(paths, cid, KILL_WAIT)
    return refresh(paths, cid)


def _set_status(paths: RuntimePaths, cid: str, status: Status) -> ContainerState:
    with locked(paths, cid):
        state = load_state(paths, cid)
        if state.status in (Status.running, Status.paused):
            state.status = status
            save_state(paths, state)
        return state


def stop(
    paths: RuntimePaths, cid: str, timeout: int = 10, signal: str | None = None
) -> ContainerState:
    """Send the stop signal, SIGKILL after `timeout` seconds, and wait for the exit."""
    state = refresh(paths, cid)
    if not state.can_stop():
        return state
    signum = signal_number(signal or load_spec(paths, cid).stop_signal)
    _signal(paths, cid, signum)
    if state.status == Status.paused:
        crun.run(paths, "resume", cid, check=False)
        _set_status(paths, cid, Status.running)
    if timeout < 0 or not wait_exit(paths, cid, timeout):
        _signal(paths, cid, 9)
        if not wait_exit(paths, cid, KILL_WAIT):
            raise RuntimeFailure(f"container {cid} did not exit after SIGKILL")
    return refresh(paths, cid)


def pause(paths: RuntimePaths, cid: str) -> ContainerState:
    state = refresh(paths, cid)
    if not state.can_pause():
        raise Conflict(f"container {cid} is {state.status.value}, cannot pause it")
    crun.run(paths, "pause", cid)
    # A v1 freezer can still say FREEZING when crun returns: a commit that reads the container
    # next must find nothing running, as `docker pause` promises.
    deadline = time.monotonic() + FREEZE_WAIT
    while not cgroups.frozen(cgroups.container_cgroup(cid)) and time.monotonic() < deadline:
        time.sleep(0.005)
    return _set_status(paths, cid, Status.paused)


def unpause(paths: RuntimePaths, cid: str) -> ContainerState:
    state = refresh(paths, cid)
    if not state.can_unpause():
        raise Conflict(f"container {cid} is not paused")
    crun.run(paths, "resume", cid)
    return _set_status(paths, cid, Status.running)


def remove(paths: RuntimePaths, cid: str, force: bool = False) -> None:
    """Delete the container: no mount, cgroup, conmon or file of it is left."""
    state = refresh(paths, cid)
    if not state.can_remove(force):
        raise Conflict(
            f"cannot remove container {cid}: container is {state.status.value}: "
            "stop the container before removing or force remove"
        )
    if state.running:
        kill(paths, cid, "SIGKILL")
    with locked(paths, cid):
        state = load_state(paths, cid)
        state.status = Status.removing
        save_state(paths, state)
        crun.forget(paths, cid)
        conmon.stop(paths, cid)
        cgroups.remove(cgroups.container_cgroup(cid))
        b = bundle(paths, cid)
        mounts.unmount(b / "rootfs")
        shutil.rmtree(paths.container_run(cid), ignore_errors=True)
        exit_file(paths, cid).unlink(missing_ok=True)
        # Out of the way before it is deleted: a state change racing this one (the agent
        # recording the exit) would otherwise create its lock file again inside it.
        doomed = b.with_name(f".removing-{cid}")
        os.rename(b, doomed)
        shutil.rmtree(doomed)


def list_ids(paths: RuntimePaths) -> list[str]:
    if not paths.containers.is_dir():
        return []
    return sorted(
        p.name
        for p in paths.containers.iterdir()
        if not p.name.startswith(".") and (p / "state.json").exists()
    )
