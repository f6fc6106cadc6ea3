"""A SIGKILL of any one Dockyard process costs a user nothing but the requests in flight.

The platform runs with every service; a container prints a numbered line every 50 ms while
`docker logs -f` follows it. Each of worker, agent, web, gateway and Redis is killed in turn;
the launcher starts it again, `docker ps` answers within 5 s, the same container keeps
running, and in the end its log holds every line once, with no gap. A second container
exits by itself meanwhile, and `docker ps -a` shows its exit code all the same.
"""

import os
import re
import secrets
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from dockyard.ephemeral import Ephemeral, ephemeral_platform, remove_all_containers

pytestmark = [pytest.mark.e2e, pytest.mark.privileged, pytest.mark.slow]

API_DEADLINE = 5.0
# Every service back at work: a container run end to end (worker, agent, gateway, Redis) and
# the dashboard answering. About 2 to 4 s on a quiet machine, most of it the restarted
# process importing Django; the margin is for a loaded CI machine.
FULL_DEADLINE = 15.0
COUNTER = "i=0; while true; do i=$((i+1)); echo line $i; sleep 0.05; done"
LINE = re.compile(r"line (\d+)")

# How to tell the launcher's children apart by their command line.
SIGNATURES: dict[str, Callable[[list[str]], bool]] = {
    "worker": lambda argv: any(Path(a).name == "celery" for a in argv) and "worker" in argv,
    "agent": lambda argv: "run_agent" in argv,
    "web": lambda argv: "dockyard.web" in argv,
    "gateway": lambda argv: "run_gateway" in argv,
    # Redis rewrites its command line to one string: "redis-server unixsocket:...".
    "redis": lambda argv: bool(argv) and Path(argv[0].split()[0]).name == "redis-server",
}


def _children(run: Path) -> dict[int, list[str]]:
    """This process's children (the launcher runs in it) that belong to the platform whose run
    directory is `run` (other tests' platforms run in this process too), by command line."""
    me = os.getpid()
    mine = f"DOCKYARD_RUN_DIR={run}".encode()
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        # Redis gets no Dockyard environment; its command line names its socket in `run`.
        ours = _environ_has(entry, mine) or any(str(run).encode() in a for a in argv)
        if int(ppid) == me and state != "Z" and ours:
            found[int(entry.name)] = [a.decode(errors="replace") for a in argv if a]
    return found


def _environ_has(entry: Path, setting: bytes) -> bool:
    try:
        return setting in (entry / "environ").read_bytes().split(b"\0")
    except OSError:
        return False


def _service_pid(run: Path, name: str) -> int | None:
    pids = [pid for pid, argv in _children(run).items() if SIGNATURES[name](argv)]
    assert len(pids) <= 1, f"more than one {name}: {pids}"
    return pids[0] if pids else None


def _within(deadline: float, check: Callable[[], bool]) -> float | None:
    """Seconds until `check()` holds, or None if it still fails after `deadline` seconds."""
    began = time.monotonic()
    while True:
        if check():
            return time.monotonic() - began
        if time.monotonic() - began > deadline:
            return None
        time.sleep(0.05)


def _quietly(check: Callable[[], bool]) -> Callable[[], bool]:
    """`check`, with a command that hangs or fails counting as not yet."""

    def guarded() -> bool:
        try:
            return check()
        except (subprocess.TimeoutExpired, OSError):
            return False

    return guarded


def _lines(text: str) -> list[int]:
    return [int(m.group(1)) for m in LINE.finditer(text)]


def _last_line(platform: Ephemeral) -> int:
    lines = _lines(platform.docker("logs", "--tail", "1", "counter", timeout=5).stdout)
    return lines[-1] if lines else 0


def _web_answers(platform: Ephemeral) -> bool:
    try:
        urllib.request.urlopen(platform.web_url + "/", timeout=2).read()
    except urllib.error.HTTPError:
        pass
    return True


def _follow(platform: Ephemeral, out: Path) -> subprocess.Popen:
    env = {**os.environ, "DOCKER_HOST": platform.docker_host}
    env["DOCKER_CONFIG"] = str(platform.root / "docker-config")
    with open(out, "wb") as sink:
        return subprocess.Popen(
            ["docker", "logs", "-f", "counter"],
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=env,
        )


def _kill_and_recover(platform: Ephemeral, name: str) -> tuple[float | None, float | None]:
    """SIGKILL the service; answer the seconds until `docker ps` lists the counter again and
    until every service works, each None when it took longer than its deadline."""
    victim = _service_pid(platform.run, name)
    assert victim is not None, f"no {name} among {_children(platform.run)}"
    before = _last_line(platform)
    killed = time.monotonic()
    os.kill(victim, signal.SIGKILL)

    def listed() -> bool:
        return "counter" in platform.docker("ps", timeout=API_DEADLINE).stdout

    def every_service_works() -> bool:
        ran = platform.docker("run", "--rm", "busybox", "echo", "back", timeout=15)
        return (
            ran.stdout == "back\n"
            and _web_answers(platform)
            and _service_pid(platform.run, name) not in (None, victim)
            and _last_line(platform) > before
        )

    api = _within(API_DEADLINE, _quietly(listed))
    api = None if api is None else time.monotonic() - killed
    full = _within(FULL_DEADLINE, _quietly(every_service_works))
    full = None if full is None else time.monotonic() - killed
    print(f"{name}: docker ps answers after {api} s, every service works after {full} s")
    return api, full


def test_a_sigkill_of_any_process_loses_no_container_and_no_log_line(tmp_path):
    root = tmp_path / "root"
    run = Path(os.environ["DOCKYARD_RUN_DIR"]) / f"cr{secrets.token_hex(2)}"
    services = ("redis", "worker", "agent", "web", "gateway")
    recovery: dict[str, tuple[float | None, float | None]] = {}
    follower_ended_after: list[str] = []
    with ephemeral_platform(root, run, services=services) as platform:
        try:
            started = platform.docker(
                "run", "-d", "--name", "counter", "busybox", "sh", "-c", COUNTER
            )
            assert started.returncode == 0, started.stderr
            container_pid = platform.docker("inspect", "-f", "{{.State.Pid}}", "counter").stdout
            # It exits while processes are being killed and restarted; its exit is still seen.
            quitter = platform.docker(
                "run", "-d", "--name", "quitter", "busybox", "sh", "-c", "sleep 6; exit 7"
            )
            assert quitter.returncode == 0, quitter.stderr
            followed = [tmp_path / "follow-0.log"]
            follower = _follow(platform, followed[0])

            for name in ("worker", "agent", "web", "gateway", "redis"):
                api, full = _kill_and_recover(platform, name)
                recovery[name] = (api, full)
                assert api is not None, f"docker ps did not answer {API_DEADLINE}s after {name}"
                assert full is not None, f"not back {FULL_DEADLINE}s after {name}"
                # The same process still runs the container: nothing restarted it.
                pid_now = platform.docker("inspect", "-f", "{{.State.Pid}}", "counter").stdout
                assert pid_now == container_pid
                assert "counter" in platform.docker("ps", "--format", "{{.Names}}").stdout

                if follower.poll() is not None:
                    # The follower's stream ran through the killed process: in flight, so it
                    # may end; a new one takes over.
                    follower_ended_after.append(name)
                    followed.append(tmp_path / f"follow-{len(followed)}.log")
                    follower = _follow(platform, followed[-1])

            # The last follower keeps up with the container before it is stopped.
            newest = _last_line(platform)
            caught_up = _within(
                10, lambda: max(_lines(followed[-1].read_text()), default=0) >= newest
            )
            assert caught_up is not None, "the follower fell behind"
            follower.terminate()
            follower.wait(timeout=10)
            stopped = platform.docker("stop", "-t", "1", "counter")
            assert stopped.returncode == 0, stopped.stderr

            exited = _within(
                10,
                lambda: (
                    "quitter Exited (7)"
                    in platform.docker("ps", "-a", "--format", "{{.Names}} {{.Status}}").stdout
                ),
            )
            assert exited is not None, "the quitter's exit was not noticed"

            numbers = _lines(platform.docker("logs", "counter").stdout)
            assert numbers == list(range(1, len(numbers) + 1))
            # Each follower saw an unbroken run of lines, none twice, none skipped.
            for path in followed:
                seen = _lines(path.read_text())
                assert seen, f"{path.name} got nothing"
                assert seen == list(range(seen[0], seen[0] + len(seen))), path.name
            # Streams that never touch a process are not in flight when it dies.
            assert not set(follower_ended_after) & {"worker", "web", "redis"}
        finally:
            print("seconds to recover (docker ps, every service):", recovery)
            print("followers that ended:", follower_ended_after)
            remove_all_containers(platform)
