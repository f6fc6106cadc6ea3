"""conmon, the supervisor of each container: spawning it, finding it alive, stopping it, and
the run files it leaves (pid files, exit file, OOM mark, attach socket)."""

import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from signal import SIGKILL

from runtime.containers import crun
from runtime.containers.layout import bundle, exit_file, exits_dir, log_path
from runtime.containers.spec import ContainerSpec
from runtime.errors import RuntimeFailure
from runtime.paths import RuntimePaths

CONMON = shutil.which("conmon") or "/usr/bin/conmon"


def alive(pid: int, cid: str) -> bool:
    if pid <= 0:
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return bool(cmdline) and cmdline[0].endswith(b"conmon") and cid.encode() in cmdline


def read_pid(path: Path) -> int:
    try:
        return int(path.read_text().strip() or 0)
    except (OSError, ValueError):
        return 0


def spawn(paths: RuntimePaths, cid: str, spec: ContainerSpec) -> int:
    """Run conmon (which runs `crun create`) and return the container's pid."""
    b = bundle(paths, cid)
    run_dir = paths.container_run(cid)
    run_dir.mkdir(parents=True, exist_ok=True)
    exits_dir(paths).mkdir(parents=True, exist_ok=True)
    crun.state_root(paths).mkdir(parents=True, exist_ok=True)
    cmd = [
        CONMON,
        "--api-version",
        "1",
        "-c",
        cid,
        "-u",
        cid,
        "-n",
        cid,
        "-r",
        crun.binary(),
        "-b",
        str(b),
        "-p",
        str(b / "pidfile"),
        "-P",
        str(b / "conmon.pid"),
        "-0",
        str(b),
        "-l",
        "none:" if spec.log_driver == "none" else f"k8s-file:{log_path(paths, cid)}",
        "--exit-dir",
        str(exits_dir(paths)),
        # conmon would otherwise fsync the log at every exit; Docker does not either.
        "--no-sync-log",
        "--socket-dir-path",
        str(run_dir),
        "--runtime-arg",
        "--root",
        "--runtime-arg",
        str(crun.state_root(paths)),
    ]
    if spec.open_stdin:
        cmd.append("-i")
    if spec.tty:
        cmd.append("-t")
    # Docker closes a container's stdin when its attached client's input ends only without a
    # tty (stdin_once): a terminal stays open for the next client after a detach.
    if spec.open_stdin and (spec.tty or not spec.stdin_once):
        cmd.append("--leave-stdin-open")
    read_end, write_end = os.pipe()
    try:
        env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")}
        env["_OCI_SYNCPIPE"] = str(write_end)
        proc = subprocess.Popen(
            cmd,
            cwd=b,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(write_end, crun.binary_fd()),
            close_fds=True,
            start_new_session=True,
        )
        os.close(write_end)
        write_end = -1
        line = b""
        while not line.endswith(b"\n"):
            chunk = os.read(read_end, 4096)
            if not chunk:
                break
            line += chunk
        proc.wait()
    finally:
        os.close(read_end)
        if write_end >= 0:
            os.close(write_end)
    try:
        reply = json.loads(line.split(b"\n")[0] or b"{}")
    except ValueError:
        reply = {}
    pid = int(reply.get("data", -1))
    if pid <= 0:
        message = reply.get("message") or "conmon failed to start the container"
        raise RuntimeFailure(message.strip())
    return pid


def clear_run_files(paths: RuntimePaths, cid: str) -> None:
    b = bundle(paths, cid)
    for p in (exit_file(paths, cid), b / "oom", b / "pidfile", b / "conmon.pid", b / "attach"):
        p.unlink(missing_ok=True)


def stop(paths: RuntimePaths, cid: str) -> None:
    pid = read_pid(bundle(paths, cid) / "conmon.pid")
    if alive(pid, cid):
        try:
            os.kill(pid, SIGKILL)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 5
        while alive(pid, cid) and time.monotonic() < deadline:
            time.sleep(0.005)


def read_exit_file(paths: RuntimePaths, cid: str) -> tuple[int, str | None]:
    ef = exit_file(paths, cid)
    try:
        return ef.stat().st_mtime_ns, ef.read_text().strip()
    except FileNotFoundError:
        return 0, None
