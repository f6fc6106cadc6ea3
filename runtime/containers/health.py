"""One healthcheck probe: the check's command run as an exec in the container, with a deadline.

Only the probe lives here; when to probe and what a result means (Docker's states, streaks and
start period) is the node agent's business.
"""

import os
import selectors
import subprocess
import time
from dataclasses import dataclass

from runtime.containers.exec import ExecSpec, start_exec
from runtime.containers.state import now_rfc3339
from runtime.errors import RuntimeFailure
from runtime.paths import RuntimePaths

# Docker keeps at most this much of a probe's output in State.Health.Log.
MAX_OUTPUT = 4096
# How long a probe past its deadline gets to go away after SIGHUP before SIGKILL.
_KILL_GRACE = 1.0


@dataclass
class ProbeResult:
    start: str
    end: str
    exit_code: int
    output: str

    def to_docker(self) -> dict:
        return {
            "Start": self.start,
            "End": self.end,
            "ExitCode": self.exit_code,
            "Output": self.output,
        }


def probe_args(test: list[str]) -> list[str]:
    """Docker's Test forms: ["CMD", argv...] runs argv, ["CMD-SHELL", text] runs it in sh."""
    if not test or test[0] == "NONE":
        raise RuntimeFailure("the container has no healthcheck")
    if test[0] == "CMD-SHELL":
        return ["/bin/sh", "-c", " ".join(test[1:])]
    if test[0] == "CMD":
        return list(test[1:])
    raise RuntimeFailure(f"unknown healthcheck type {test[0]!r}")


def probe(
    paths: RuntimePaths, cid: str, test: list[str], timeout: float, env: list[str] | None = None
) -> ProbeResult:
    """Run the check once; a probe that outlives `timeout` is killed and counts as failed
    (exit code -1, as Docker reports it)."""
    start = now_rfc3339()
    try:
        proc = start_exec(paths, cid, ExecSpec(args=probe_args(test), env=env or []))
    except RuntimeFailure as e:
        # Docker reports a probe that could not even start (no such binary, container gone)
        # as a failed probe, not as an error of the monitor.
        return ProbeResult(start, now_rfc3339(), -1, str(e)[:MAX_OUTPUT])
    proc.close_stdin()
    output = bytearray()
    deadline = time.monotonic() + timeout
    timed_out = False
    with selectors.DefaultSelector() as sel:
        for fd in (proc.stdout, proc.stderr):
            if fd is not None:
                sel.register(fd, selectors.EVENT_READ)
        while sel.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                break
            for key, _ in sel.select(left):
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    sel.unregister(key.fd)
                elif len(output) < MAX_OUTPUT:
                    output += chunk[: MAX_OUTPUT - len(output)]
    if timed_out:
        proc.hang_up(_KILL_GRACE)
        proc.wait()
        message = f"Health check exceeded timeout ({_seconds(timeout)})"
        return ProbeResult(start, now_rfc3339(), -1, message)
    left = max(deadline - time.monotonic(), 0.1)
    try:
        code = proc.wait(left)
    except subprocess.TimeoutExpired:
        proc.hang_up(_KILL_GRACE)
        proc.wait()
        code = -1
    proc.close()
    return ProbeResult(start, now_rfc3339(), code, output.decode(errors="replace"))


def _seconds(timeout: float) -> str:
    """Go's time.Duration text for whole and fractional seconds (30s, 1.5s, 500ms)."""
    if timeout < 1:
        return f"{timeout * 1000:g}ms"
    return f"{timeout:g}s"
