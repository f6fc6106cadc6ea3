"""Starts the platform's processes on one machine and stops them again.

`make up` runs this module in the foreground; end-to-end tests use `Platform` so they start
the real services exactly the way a user does. Each child runs in its own process group, logs
to `<log_dir>/<name>.log`, and is stopped in reverse start order: SIGTERM to its group, then
SIGKILL to the group after a grace period, so nothing a child spawned in its group survives.

Once every service is ready, a child that dies is started again after a back-off (0.5 s,
doubling up to 10 s); only a service that crashes 5 times within 60 s stops the platform, with
the end of its log. Nothing the services keep is lost that way: containers run under conmon in
sessions of their own, the database and container logs are files, and Redis carries only
messages (Celery tasks, results, channel-layer events), so at most what was in flight fails.

This module only starts processes; it never imports Django settings, which would create
state (the secret key file) in the launcher's own environment.
"""

import argparse
import http.client
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from platformkit.files import ADMIN_PASSWORD_FILE

SOURCE_DIR = Path(__file__).resolve().parent.parent
# The interpreter's own bin directory: celery lives beside it in the venv.
VENV_BIN = Path(sys.executable).parent

SERVICE_NAMES = ("redis", "worker", "agent", "web", "gateway")
LOG_TAIL_LINES = 30
POLL_SECONDS = 0.2
# How often the supervisor looks for dead children: part of every recovery's time.
SUPERVISE_SECONDS = 0.05


class PlatformError(RuntimeError):
    pass


@dataclass(frozen=True)
class Service:
    """One child process. `probe` answers True once it serves; without one, the service is
    ready when it has stayed alive for `settle` seconds. `blocking` makes `start()` wait for
    it before starting the services after it (the others need redis to answer). `before`
    runs just before the process starts, to clear what a previous run left; `ready` runs once
    a blocking service first answers (a database's tables are made then)."""

    name: str
    argv: Sequence[str]
    probe: Callable[[], bool] | None = None
    settle: float = 2.0
    blocking: bool = False
    env: Mapping[str, str] = field(default_factory=dict)
    before: Callable[[], None] | None = None
    ready: Callable[[], None] | None = None


@dataclass(frozen=True)
class RestartPolicy:
    """When a dead child is started again. The n-th crash within `window` seconds waits
    `first_delay * 2**(n-1)` seconds, at most `max_delay`, so a crash loop does not spin the
    machine while a one-off crash costs half a second; the `max_crashes`-th within the window
    gives up, since a service that keeps dying will not be saved by more restarts."""

    first_delay: float = 0.5
    max_delay: float = 10.0
    max_crashes: int = 5
    window: float = 60.0

    def delay(self, crashes: int) -> float:
        return min(self.first_delay * 2 ** max(crashes - 1, 0), self.max_delay)


def resolve_env(overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """The children's environment: ours, then `overrides`, then the platform defaults.

    The defaults match dockyard.settings so every child agrees on paths and names.
    """
    env = dict(os.environ)
    env.update(overrides or {})
    env.setdefault("DOCKYARD_ROOT", "/var/lib/dockyard")
    env.setdefault("DOCKYARD_RUN_DIR", "/run/dockyard")
    env.setdefault("DOCKYARD_NODE", socket.gethostname())
    env.setdefault("DOCKYARD_HOST", "127.0.0.1")
    env.setdefault("DOCKYARD_PORT", "8000")
    env.setdefault("DOCKYARD_ENGINE_SOCKET", str(Path(env["DOCKYARD_RUN_DIR"]) / "docker.sock"))
    env["PYTHONUNBUFFERED"] = "1"
    if cluster_enabled(env):
        from .cluster import control_env

        env = control_env(env)
    return env


def cluster_enabled(env: Mapping[str, str]) -> bool:
    """DOCKYARD_CLUSTER=1: a control plane other hosts join (see dockyard/cluster.py)."""
    return env.get("DOCKYARD_CLUSTER", "") in ("1", "true", "yes", "on")


def redis_answers(sock_path: Path) -> bool:
    """True when the redis server on `sock_path` answers PING."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(1)
            s.connect(str(sock_path))
            s.sendall(b"*1\r\n$4\r\nPING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def http_answers(host: str, port: int, path: str = "/") -> bool:
    """True when an HTTP server answers on host:port, whatever its status."""
    conn = http.client.HTTPConnection(_reachable(host), port, timeout=2)
    try:
        conn.request("GET", path)
        conn.getresponse().read()
        return True
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, sock_path: Path, timeout: float):
        super().__init__("localhost", timeout=timeout)
        self.sock_path = sock_path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(str(self.sock_path))


def engine_answers(sock_path: Path) -> bool:
    """True when the engine socket answers GET /_ping with 200.

    A 404 also counts: the socket is served, the ping endpoint is just not there.
    """
    conn = _UnixHTTPConnection(sock_path, timeout=2)
    try:
        conn.request("GET", "/_ping")
        response = conn.getresponse()
        response.read()
        return response.status in (200, 404)
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def _reachable(host: str) -> str:
    """The address to probe a server that listens on `host` (a wildcard is not reachable)."""
    return {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)


def dashboard_url(env: Mapping[str, str]) -> str:
    host = env["DOCKYARD_HOST"]
    shown = socket.gethostname() if host in ("0.0.0.0", "::", "") else host
    if ":" in shown:
        shown = f"[{shown}]"
    return f"http://{shown}:{env['DOCKYARD_PORT']}/"


def platform_services(env: Mapping[str, str]) -> dict[str, Service]:
    """The platform's own services, by name, in start order."""
    python = str(VENV_BIN / "python")
    run_dir = Path(env["DOCKYARD_RUN_DIR"])
    redis_sock = run_dir / "redis.sock"
    engine_sock = Path(env["DOCKYARD_ENGINE_SOCKET"])
    host, port = env["DOCKYARD_HOST"], int(env["DOCKYARD_PORT"])
    node = env["DOCKYARD_NODE"]
    worker_pid = run_dir / "worker.pid"
    agent_ready = run_dir / "agent.ready"
    services = {
        "redis": Service(
            "redis",
            [
                "redis-server",
                "--port", "0",
                "--unixsocket", str(redis_sock),
                "--unixsocketperm", "700",
                "--dir", str(Path(env["DOCKYARD_ROOT"]) / "redis"),
                # Redis holds only messages (Celery's queue and results, channel-layer
                # events): nothing worth writing to disk, so a restarted one starts empty
                # and only what was in flight is lost.
                "--save", "",
                "--appendonly", "no",
            ],
            probe=lambda: redis_answers(redis_sock),
            blocking=True,
        ),
        "worker": Service(
            "worker",
            [
                str(VENV_BIN / "celery"), "-A", "dockyard", "worker",
                "-Q", f"node.{node}",
                "-n", f"{node}@%h",
                "-P", "threads", "-c", "16",
                "--without-gossip", "--without-mingle",
                "-l", "warning",
                "--pidfile", str(worker_pid),
            ],
            # Celery writes its pidfile once every task module imported, before serving.
            probe=worker_pid.exists,
            before=lambda: worker_pid.unlink(missing_ok=True),
        ),
        "agent": Service(
            "agent",
            [python, "manage.py", "run_agent"],
            # The agent writes this once it watches container exits and has reconciled.
            probe=agent_ready.exists,
            before=lambda: agent_ready.unlink(missing_ok=True),
        ),
        "web": Service(
            "web",
            [
                python, "-m", "dockyard.web", "--host", host, "--port", str(port),
            ],
            probe=lambda: http_answers(host, port),
        ),
        "gateway": Service(
            "gateway",
            [python, "manage.py", "run_gateway", "--socket", str(engine_sock)],
            probe=lambda: engine_answers(engine_sock),
        ),
    }  # fmt: skip
    if cluster_enabled(env):
        from .cluster import control_services

        services = control_services(env, services)
    return services


@dataclass
class _Child:
    service: Service
    process: subprocess.Popen
    log_path: Path
    started: float
    # Set once the supervisor has seen this process die: when to start it again.
    restart_at: float | None = None

    @property
    def alive(self) -> bool:
        return self.process.poll() is None


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "is still running"
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


def _notify(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class Platform:
    """The platform's processes on this machine.

    `services` picks what to start: names from SERVICE_NAMES and/or extra `Service` values.
    By default all of them, except redis when DOCKYARD_REDIS_URL names an existing one.

    Once `wait_ready` has returned, a thread restarts children that die, as `restart` says
    (None: never; a death then only shows in `dead()`). When a service crashes too often it
    stops them all and `failure` says why; `notify` hears of every restart.
    """

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        log_dir: Path | None = None,
        services: Iterable[str | Service] | None = None,
        grace: float = 5.0,
        restart: RestartPolicy | None = RestartPolicy(),
        notify: Callable[[str], None] = _notify,
    ):
        self.env = resolve_env(env)
        self.log_dir = Path(log_dir or Path(self.env["DOCKYARD_ROOT"]) / "logs")
        self.grace = grace
        self.restart = restart
        self.notify = notify
        self.failure: str | None = None
        self.restarts: dict[str, int] = {}
        self._crashes: dict[str, deque[float]] = {}
        # Held while the children list changes, so stop() never races a restart.
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._supervisor: threading.Thread | None = None
        known = platform_services(self.env)
        if services is None:
            services = [n for n in known if n != "redis" or not self.external_redis]
        self.services: list[Service] = []
        for s in services:
            if isinstance(s, Service):
                self.services.append(s)
            elif s in known:
                self.services.append(known[s])
            else:
                raise PlatformError(f"unknown service {s!r}; known: {', '.join(SERVICE_NAMES)}")
        self.children: list[_Child] = []

    @property
    def external_redis(self) -> bool:
        # A control plane's URL names the Redis it starts itself.
        return bool(self.env.get("DOCKYARD_REDIS_URL")) and not cluster_enabled(self.env)

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.services]

    def start(self, timeout: float = 30.0) -> None:
        """Start every service in order; a blocking one must be ready before the next starts."""
        if self.children:
            raise PlatformError("the platform is already started")
        self._check_free()
        for d in (self.log_dir, Path(self.env["DOCKYARD_RUN_DIR"])):
            d.mkdir(parents=True, exist_ok=True)
        (Path(self.env["DOCKYARD_ROOT"]) / "redis").mkdir(parents=True, exist_ok=True)
        try:
            for service in self.services:
                child = self._spawn(service)
                if service.blocking:
                    self._wait([child], timeout)
                    if service.ready:
                        service.ready()
        except BaseException:
            self.stop()
            raise

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Return once every service is ready; raise PlatformError if one dies or is late.

        A death before this returns is fatal: at start it is a broken setup, which a restart
        would only repeat. From here on, the supervisor restarts what dies.
        """
        self._wait(self.children, timeout)
        if self.restart is not None and self._supervisor is None:
            self._supervisor = threading.Thread(
                target=self._supervise, name="dockyard-supervisor", daemon=True
            )
            self._supervisor.start()

    def stop(self) -> None:
        """Stop every child in reverse start order; always SIGKILL its group at the end."""
        self._stopping.set()
        supervisor = self._supervisor
        if supervisor is not None and supervisor is not threading.current_thread():
            supervisor.join()
        with self._lock:
            while self.children:
                child = self.children.pop()
                pgid = child.process.pid
                _signal_group(pgid, signal.SIGTERM)
                try:
                    child.process.wait(timeout=self.grace)
                except subprocess.TimeoutExpired:
                    pass
                _signal_group(pgid, signal.SIGKILL)
                child.process.wait()

    def dead(self) -> list[str]:
        """Names of the services whose process has exited (and is not yet restarted)."""
        with self._lock:
            return [c.service.name for c in self.children if not c.alive]

    def pid(self, name: str) -> int:
        """The pid of the service's current process."""
        with self._lock:
            return self._child(name).process.pid

    def failure_report(self, name: str) -> str:
        child = self._child(name)
        state = _describe_exit(child.process.poll())
        return f"{name} {state}; last lines of {child.log_path}:\n{_tail(child.log_path)}"

    def _child(self, name: str) -> _Child:
        return next(c for c in self.children if c.service.name == name)

    def _supervise(self) -> None:
        while not self._stopping.wait(SUPERVISE_SECONDS):
            with self._lock:
                if self._stopping.is_set():
                    return
                try:
                    gave_up = self._supervise_once(time.monotonic())
                except Exception as e:
                    # A supervisor that died quietly would leave a platform nobody restarts
                    # while `make up` seemed to run; better to stop it and say why.
                    gave_up = f"the launcher's supervisor failed ({e!r}); stopping the platform."
            if gave_up:
                self.notify(gave_up)
                self.stop()
                # Set last, so whoever sees it finds every child already stopped.
                self.failure = gave_up
                return

    def _supervise_once(self, now: float) -> str | None:
        """Restart what is due; note what has died. Answers why to give up, if it is time."""
        policy = self.restart
        assert policy is not None
        for index, child in enumerate(self.children):
            name = child.service.name
            if child.restart_at is not None:
                if now >= child.restart_at:
                    try:
                        self.children[index] = self._spawn(
                            child.service,
                            restart=f"the previous one {_describe_exit(child.process.returncode)}",
                        )
                    except (PlatformError, OSError) as e:
                        return f"{name} could not be restarted ({e}); stopping the platform."
                    self.restarts[name] = self.restarts.get(name, 0) + 1
                continue
            if child.alive:
                continue
            # What the dead child started in its group (a build step, say) goes with it, so
            # the new process starts alone.
            _signal_group(child.process.pid, signal.SIGKILL)
            crashes = self._crashes.setdefault(name, deque())
            crashes.append(now)
            while crashes and now - crashes[0] > policy.window:
                crashes.popleft()
            if len(crashes) >= policy.max_crashes:
                return (
                    f"{name} died {len(crashes)} times within {policy.window:.0f}s; "
                    f"giving up and stopping the platform. {self.failure_report(name)}"
                )
            delay = policy.delay(len(crashes))
            child.restart_at = now + delay
            self.notify(
                f"{name} {_describe_exit(child.process.returncode)}; "
                f"restarting it in {delay:g}s (see {child.log_path})"
            )
        return None

    def __enter__(self) -> "Platform":
        self.start()
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def _check_free(self) -> None:
        """Refuse to start next to a running platform: its servers would answer our probes."""
        names = self.names
        host, port = self.env["DOCKYARD_HOST"], int(self.env["DOCKYARD_PORT"])
        if "web" in names and http_answers(host, port):
            raise PlatformError(f"something already answers on {host}:{port} (DOCKYARD_PORT)")
        engine_sock = Path(self.env["DOCKYARD_ENGINE_SOCKET"])
        if "gateway" in names and engine_answers(engine_sock):
            raise PlatformError(f"an engine already answers on {engine_sock}")
        run_dir = Path(self.env["DOCKYARD_RUN_DIR"])
        if "worker" in names and _pidfile_alive(run_dir / "worker.pid"):
            raise PlatformError(f"a worker already runs (see {run_dir / 'worker.pid'})")
        redis_sock = run_dir / "redis.sock"
        if "redis" in names and redis_answers(redis_sock):
            raise PlatformError(f"a redis server already answers on {redis_sock}")

    def _spawn(self, service: Service, restart: str | None = None) -> _Child:
        """Start `service`; `restart` says why, when this replaces a process that died."""
        log_path = self.log_dir / f"{service.name}.log"
        if service.before:
            service.before()
        # A restart appends, so the log keeps why the previous process died.
        with open(log_path, "wb" if restart is None else "ab") as log:
            if restart is not None:
                when = time.strftime("%Y-%m-%d %H:%M:%S")
                log.write(f"--- {when} restarted: {restart} ---\n".encode())
                log.flush()
            try:
                process = subprocess.Popen(
                    list(service.argv),
                    cwd=SOURCE_DIR,
                    env={**self.env, **service.env},
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            except FileNotFoundError:
                raise PlatformError(f"{service.name}: {service.argv[0]} is not installed") from None
        child = _Child(service, process, log_path, time.monotonic())
        if restart is None:
            self.children.append(child)
        return child

    def _wait(self, children: list[_Child], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        pending = list(children)
        while pending:
            for child in list(pending):
                if not child.alive:
                    raise PlatformError(
                        f"{child.service.name} stopped while starting: "
                        + self.failure_report(child.service.name)
                    )
                if _ready(child):
                    pending.remove(child)
            if not pending:
                return
            if time.monotonic() > deadline:
                reports = "\n\n".join(self.failure_report(c.service.name) for c in pending)
                late = ", ".join(c.service.name for c in pending)
                raise PlatformError(f"not ready after {timeout:.0f}s: {late}\n\n{reports}")
            time.sleep(POLL_SECONDS)


def _ready(child: _Child) -> bool:
    probe = child.service.probe
    if probe is None:
        return time.monotonic() - child.started >= child.service.settle
    return probe()


def _pidfile_alive(path: Path) -> bool:
    try:
        os.kill(int(path.read_text().strip()), 0)
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return False
    return True


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def _tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return "  (no log)"
    kept = text.splitlines()[-lines:]
    return "\n".join(f"  {line}" for line in kept) if kept else "  (empty log)"


class _Stop(Exception):
    pass


def _raise_stop(signum, frame) -> None:
    raise _Stop


def _print_banner(platform: Platform) -> None:
    env, names = platform.env, platform.names
    print(f"Dockyard is running ({', '.join(names)}); logs in {platform.log_dir}", flush=True)
    if "web" in names:
        print(f"  Dashboard:  {dashboard_url(env)}")
        user = env.get("DJANGO_SUPERUSER_USERNAME") or "admin"
        saved = Path(env["DOCKYARD_ROOT"]) / ADMIN_PASSWORD_FILE
        if env.get("DJANGO_SUPERUSER_PASSWORD"):
            where = "the password in DJANGO_SUPERUSER_PASSWORD"
        elif saved.exists():
            where = f"password {saved.read_text().strip()} (kept in {saved})"
        else:
            where = "the password printed by `manage.py ensure_admin` when it created the account"
        print(f"  Admin login: {user} with {where}")
    if "gateway" in names:
        print(f"  Docker CLI: export DOCKER_HOST=unix://{env['DOCKYARD_ENGINE_SOCKET']}")
    if cluster_enabled(env):
        print("  Add a node: .venv/bin/python manage.py join_token (or the dashboard's Nodes page)")
    print("Press Ctrl-C to stop.", flush=True)


def _publish_base_images(platform: Platform) -> None:
    """`docker pull busybox` works out of the box: the node's base images go to `library/`."""
    done = subprocess.run(
        [str(VENV_BIN / "python"), "manage.py", "publish_base_images"],
        cwd=SOURCE_DIR,
        env=platform.env,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        print(f"warning: publishing the base images failed:\n{done.stdout}{done.stderr}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dockyard.launcher",
        description="Run the platform's processes in the foreground until Ctrl-C.",
    )
    parser.add_argument(
        "--only",
        help=f"comma-separated services to run (default: all of {','.join(SERVICE_NAMES)})",
    )
    parser.add_argument("--log-dir", type=Path, help="default: $DOCKYARD_ROOT/logs")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to become ready")
    args = parser.parse_args(argv)

    services = [s for s in args.only.split(",") if s] if args.only else None
    # A closed terminal or a service manager stops the platform as Ctrl-C does.
    signal.signal(signal.SIGTERM, _raise_stop)
    signal.signal(signal.SIGHUP, _raise_stop)
    platform = Platform(log_dir=args.log_dir, services=services)
    try:
        print(f"Starting {', '.join(platform.names)}...", flush=True)
        platform.start(timeout=args.timeout)
        platform.wait_ready(timeout=args.timeout)
        if "web" in platform.names:
            _publish_base_images(platform)
        _print_banner(platform)
        # The supervisor restarts what dies and reports it; this thread only waits for it
        # to give up (or for Ctrl-C).
        while platform.failure is None:
            time.sleep(0.5)
        return 1
    except PlatformError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, _Stop):
        print("\nStopping...", flush=True)
        return 0
    finally:
        # A second Ctrl-C must not cut the shutdown short and leave children behind.
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        platform.stop()


if __name__ == "__main__":
    sys.exit(main())
