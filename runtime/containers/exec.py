"""`docker exec`: a process in a running container via `crun exec --process`.

With a tty, crun hands the pty master over a console socket (SCM_RIGHTS); otherwise
the process talks through three pipes.

crun reports a process it could not start (not executable, not found) with exit code 255 and
a line on the process's own stderr or terminal, which a process could print too. Its log file
(`--log`, JSON) holds the line only when crun itself failed, so that is what tells the two
apart; the failure is then given Docker's exit code (126 or 127) and words.
"""

import contextlib
import fcntl
import json
import os
import re
import select
import signal
import socket
import struct
import subprocess
import termios
import time
import uuid
from dataclasses import dataclass, field

from runtime.containers import crun
from runtime.containers.layout import bundle, rootfs
from runtime.containers.lifecycle import refresh
from runtime.containers.spec import ALL_CAPS, resolve_user
from runtime.containers.state import Status
from runtime.errors import Conflict, RuntimeFailure
from runtime.paths import RuntimePaths

CONSOLE_WAIT = 10.0
# What crun exits with when it failed before the process ran.
CRUN_FAILED = 255
# crun's own line about such a failure, as the process's first output shows it: plain on a
# pipe, red (and timestamped, without --log) on a terminal.
_CRUN_ECHO = re.compile(
    rb"(?:\x1b\[1;31m(?:\d{4}-\d\d-\d\dT[0-9:.]+Z: )?[^\n]*\x1b\[0m\r?\n"
    rb"|[^\n\x1b]*: (?:Permission denied|No such file or directory|Operation not permitted"
    rb"|Not a directory|Is a directory|Exec format error)\n)"
)
_ERRNO_WORDS = {
    "Permission denied": "permission denied",
    "Operation not permitted": "permission denied",
    "Is a directory": "permission denied",
    "No such file or directory": "no such file or directory",
    "Not a directory": "not a directory",
    "Exec format error": "exec format error",
}


@dataclass
class StartFailure:
    """An exec whose process never ran: Docker's exit code and message for it."""

    exit_code: int
    message: str


def start_failure(command: str, crun_message: str) -> StartFailure:
    """Docker's exit code and words for crun's message about `command` not starting.

    126: found but cannot be run; 127: not found (what a shell says too).
    """
    reason, _, errno_text = crun_message.rpartition(": ")
    words = _ERRNO_WORDS.get(errno_text, errno_text.lower())
    if reason.startswith("executable file `"):
        if "/" in command:
            detail, code = f"stat {command}: {words}", 127
        else:
            detail, code = "executable file not found in $PATH", 127
    elif reason == "open executable":
        detail, code = words, 126
    else:
        detail, code = crun_message, 127 if errno_text == "No such file or directory" else 126
    prefix = "OCI runtime exec failed: exec failed: unable to start container process"
    return StartFailure(code, f'{prefix}: exec: "{command}": {detail}: unknown')


def looks_like_crun_failure(output: bytes) -> bool:
    """True if `output`, an exec's first output, may be crun's line about failing to start it."""
    return _CRUN_ECHO.fullmatch(output) is not None


@dataclass
class ExecSpec:
    args: list[str]
    env: list[str] = field(default_factory=list)
    cwd: str = ""
    user: str = ""
    tty: bool = False
    privileged: bool = False


class ExecProcess:
    """A running exec; `stdin`/`stdout`/`stderr` are fds (all the pty master with a tty)."""

    def __init__(
        self,
        proc: subprocess.Popen,
        pid_file: str,
        pty_fd: int | None,
        tmp_files: list[str],
        command: str = "",
        log_file: str = "",
    ):
        self._proc = proc
        self._pid_file = pid_file
        self._tmp_files = tmp_files
        self._command = command
        self._log_file = log_file
        # Set by wait() when crun could not start the process.
        self.failure: StartFailure | None = None
        self.pty_fd = pty_fd
        if pty_fd is not None:
            self.stdin = self.stdout = pty_fd
            self.stderr = None
        else:
            self.stdin, self.stdout, self.stderr = (
                pipe.fileno() if pipe is not None else None
                for pipe in (proc.stdin, proc.stdout, proc.stderr)
            )

    @property
    def pid(self) -> int:
        try:
            with open(self._pid_file) as f:
                return int(f.read().strip() or 0)
        except (OSError, ValueError):
            return 0

    def resize(self, height: int, width: int) -> None:
        if self.pty_fd is not None:
            fcntl.ioctl(self.pty_fd, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))

    def close_stdin(self) -> None:
        if self._proc.stdin is not None and not self._proc.stdin.closed:
            self._proc.stdin.close()

    def discard_output(self) -> None:
        """Read the terminal to its end and drop it: nobody attached, but writes must not block."""
        if self.pty_fd is None:
            return
        # A client that detached may have left the terminal non-blocking.
        os.set_blocking(self.pty_fd, True)
        with contextlib.suppress(OSError):
            while os.read(self.pty_fd, 65536):
                pass

    def hang_up(self, grace: float) -> None:
        """End an exec nobody is attached to any more: a hangup, then SIGKILL after `grace`."""
        # crun writes the pid file just before it runs the process: an exec hung up at once
        # may not have it yet, and killing crun alone would leave the process running.
        deadline = time.monotonic() + grace
        while (pid := self.pid) <= 0 and self._proc.poll() is None:
            if time.monotonic() > deadline:
                break
            time.sleep(0.01)
        self.close()
        for signum in (signal.SIGHUP, signal.SIGKILL):
            if pid > 0:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signum)
            try:
                self._proc.wait(grace)
                return
            except subprocess.TimeoutExpired:
                continue
        self._proc.kill()

    def wait(self, timeout: float | None = None) -> int:
        """The exit code; Docker's 126 or 127, and `failure`, if the process never ran."""
        code = self._proc.wait(timeout)
        if code == CRUN_FAILED and self.failure is None:
            message = _crun_error(self._log_file)
            if message:
                self.failure = start_failure(self._command, message)
        if self.failure is not None:
            code = self.failure.exit_code
        for path in self._tmp_files:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
        return code

    def close(self) -> None:
        for stream in (self._proc.stdin, self._proc.stdout, self._proc.stderr):
            if stream is not None:
                stream.close()
        if self.pty_fd is not None:
            os.close(self.pty_fd)
            self.pty_fd = None


def _crun_error(log_file: str) -> str:
    """The last error crun logged, or "" if it logged none."""
    message = ""
    try:
        with open(log_file) as f:
            for line in f:
                with contextlib.suppress(ValueError, AttributeError):
                    entry = json.loads(line)
                    if entry.get("level") == "error":
                        message = str(entry.get("msg", ""))
    except OSError:
        pass
    return message


def _process_json(paths: RuntimePaths, cid: str, spec: ExecSpec) -> dict:
    config = json.loads((bundle(paths, cid) / "config.json").read_text())
    base = config["process"]
    user = resolve_user(rootfs(paths, cid), spec.user) if spec.user else None
    caps = ALL_CAPS if spec.privileged else base["capabilities"]["bounding"]
    env = list(base["env"])
    keys = {e.partition("=")[0]: i for i, e in enumerate(env)}
    for item in spec.env:
        key = item.partition("=")[0]
        if key in keys:
            env[keys[key]] = item
        else:
            env.append(item)
    if spec.tty and "TERM" not in keys:
        env.append("TERM=xterm")
    return {
        "terminal": spec.tty,
        "user": base["user"]
        if user is None
        else {"uid": user.uid, "gid": user.gid, "additionalGids": user.additional_gids},
        "args": list(spec.args),
        "env": env,
        "cwd": spec.cwd or base.get("cwd", "/"),
        "capabilities": {k: caps for k in ("bounding", "effective", "permitted")},
        "rlimits": base.get("rlimits", []),
        "noNewPrivileges": not spec.privileged and base.get("noNewPrivileges", True),
    }


def _receive_pty(listener: socket.socket, proc: subprocess.Popen) -> int:
    listener.settimeout(0.05)
    waited = 0.0
    while waited < CONSOLE_WAIT:
        try:
            conn, _ = listener.accept()
            break
        except TimeoutError:
            waited += 0.05
            if proc.poll() is not None:
                err = proc.stderr.read().decode(errors="replace").strip() if proc.stderr else ""
                raise RuntimeFailure(err.splitlines()[-1] if err else "exec failed") from None
    else:
        raise RuntimeFailure("exec did not open a terminal in time")
    with conn:
        conn.setblocking(True)
        _msg, fds, _flags, _addr = socket.recv_fds(conn, 1024, 1)
    if not fds:
        raise RuntimeFailure("exec did not send its terminal")
    return fds[0]


def start_exec(paths: RuntimePaths, cid: str, spec: ExecSpec, attached: bool = True) -> ExecProcess:
    """Start `spec` in the container; a detached exec's output goes nowhere, as with Docker.

    With a tty the terminal's master is the caller's to read, attached or not.
    """
    if not spec.args:
        raise RuntimeFailure("no command specified")
    state = refresh(paths, cid)
    if state.status == Status.paused:
        raise Conflict(f"container {cid} is paused, unpause it first")
    if state.status != Status.running:
        raise Conflict(f"container {cid} is not running")
    run_dir = paths.container_run(cid)
    run_dir.mkdir(parents=True, exist_ok=True)
    tag = uuid.uuid4().hex[:8]
    process_file = str(bundle(paths, cid) / f"exec-{tag}.json")
    pid_file = str(bundle(paths, cid) / f"exec-{tag}.pid")
    log_file = str(bundle(paths, cid) / f"exec-{tag}.log")
    with open(process_file, "w") as f:
        f.write(json.dumps(_process_json(paths, cid, spec)))
    cmd = crun.command(paths, f"--log=file:{log_file}", "--log-format=json")
    cmd += ["exec", "--process", process_file, "--pid-file", pid_file]
    tmp_files = [process_file, pid_file, log_file]
    described = {"command": spec.args[0], "log_file": log_file}
    if not spec.tty:
        stdio = subprocess.PIPE if attached else subprocess.DEVNULL
        proc = subprocess.Popen(
            [*cmd, cid],
            stdin=stdio,
            stdout=stdio,
            stderr=stdio,
            close_fds=True,
            pass_fds=(crun.binary_fd(),),
            start_new_session=True,
        )
        return ExecProcess(proc, pid_file, None, tmp_files, **described)
    sock_path = str(run_dir / f"x{tag}.sock")
    tmp_files.append(sock_path)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(sock_path)
        listener.listen(1)
        proc = subprocess.Popen(
            [*cmd, "--console-socket", sock_path, cid],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            close_fds=True,
            pass_fds=(crun.binary_fd(),),
            start_new_session=True,
        )
        try:
            pty_fd = _receive_pty(listener, proc)
        except BaseException:
            proc.kill()
            proc.wait()
            for path in tmp_files:
                if os.path.exists(path):
                    os.unlink(path)
            raise
    os.set_blocking(pty_fd, True)
    return ExecProcess(proc, pid_file, pty_fd, tmp_files, **described)


def read_all(fd: int, timeout: float = 10.0) -> bytes:
    """Read from `fd` until EOF (or EIO, how a pty master reports the other side closed)."""
    out = b""
    while True:
        ready, _, _ = select.select([fd], [], [], timeout)
        if not ready:
            return out
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            return out
        if not chunk:
            return out
        out += chunk
