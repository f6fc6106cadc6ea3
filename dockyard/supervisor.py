"""Starts the platform's processes and stops them again, restarting what dies meanwhile.

Each child runs in its own process group, logs to `<log_dir>/<name>.log`, and is stopped in
reverse start order: SIGTERM to its group, then SIGKILL to the group after a grace period, so
nothing a child spawned in its group survives.

Once every service is ready, a child that dies is started again after a back-off (0.5 s,
doubling up to 10 s); only a service that crashes 5 times within 60 s stops the platform, with
the end of its log. Nothing the services keep is lost that way: containers run under conmon in
sessions of their own, the database and container logs are files, and Redis carries only
messages (Celery tasks, results, channel-layer events), so at most what was in flight fails.

Standard library only: this supervising process never imports Django, Celery or a database
client, so it costs a joined node about 15 MB (bench/cluster.py), and it creates no state
(the secret key file) in its own environment.
"""

import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from .probes import engine_answers, http_answers, pidfile_alive, redis_answers
from .services import (
    SERVICE_NAMES,
    SOURCE_DIR,
    PlatformError,
    Service,
    cluster_enabled,
    platform_services,
    resolve_env,
    worker_pidfile,
)

LOG_TAIL_LINES = 30
POLL_SECONDS = 0.2
# How often the supervisor looks for dead children: part of every recovery's time.
SUPERVISE_SECONDS = 0.05


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
        worker_pid = worker_pidfile(self.env)
        # A joined node's one process runs its worker, which writes the same pidfile.
        if {"worker", "node"} & set(names) and pidfile_alive(worker_pid):
            raise PlatformError(f"a worker already runs (see {worker_pid})")
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
