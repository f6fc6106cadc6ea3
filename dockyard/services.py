"""The platform's processes on one machine: what each runs, with which environment, and how
the launcher tells that it serves. Standard library only, like the rest of the launcher."""

import os
import socket
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .probes import engine_answers, http_answers, redis_answers

SOURCE_DIR = Path(__file__).resolve().parent.parent
# The interpreter's own bin directory: celery lives beside it in the venv.
VENV_BIN = Path(sys.executable).parent

SERVICE_NAMES = ("redis", "worker", "agent", "web", "gateway")


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


def dashboard_url(env: Mapping[str, str]) -> str:
    host = env["DOCKYARD_HOST"]
    shown = socket.gethostname() if host in ("0.0.0.0", "::", "") else host
    if ":" in shown:
        shown = f"[{shown}]"
    return f"http://{shown}:{env['DOCKYARD_PORT']}/"


def worker_pidfile(env: Mapping[str, str]) -> Path:
    """Celery writes it once every task module is imported, before it serves."""
    return Path(env["DOCKYARD_RUN_DIR"]) / "worker.pid"


def agent_ready_file(env: Mapping[str, str]) -> Path:
    """The agent writes it once it watches container exits and has reconciled."""
    return Path(env["DOCKYARD_RUN_DIR"]) / "agent.ready"


def platform_services(env: Mapping[str, str]) -> dict[str, Service]:
    """The platform's own services, by name, in start order."""
    python = str(VENV_BIN / "python")
    run_dir = Path(env["DOCKYARD_RUN_DIR"])
    redis_sock = run_dir / "redis.sock"
    engine_sock = Path(env["DOCKYARD_ENGINE_SOCKET"])
    host, port = env["DOCKYARD_HOST"], int(env["DOCKYARD_PORT"])
    node = env["DOCKYARD_NODE"]
    worker_pid = worker_pidfile(env)
    agent_ready = agent_ready_file(env)
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
            probe=worker_pid.exists,
            before=lambda: worker_pid.unlink(missing_ok=True),
        ),
        "agent": Service(
            "agent",
            [python, "manage.py", "run_agent"],
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
