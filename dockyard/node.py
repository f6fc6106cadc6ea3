"""`make node JOIN=http://control:8000 TOKEN=...`: this host joins a cluster as a node.

It spends the join token once (POST /api/nodes/join), keeps the credentials it got in
DOCKYARD_ROOT/node.json (readable by root only), and runs with them one process holding this
node's Celery worker and agent (dockyard/node_process.py), which it restarts when it dies, as
the launcher does. Started again without a token, it uses the kept credentials: a node that
crashed or rebooted comes back as itself, and its agent reconciles what still runs here. A
revoked node's credentials are refused, and it says so.

Like the launcher, this supervising process uses the standard library only (no Django,
Celery or database client), so it stays small beside the process it supervises.
"""

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import NoReturn
from urllib.parse import urlparse

from .launcher import _raise_stop, _Stop
from .services import (
    SOURCE_DIR,
    VENV_BIN,
    PlatformError,
    Service,
    agent_ready_file,
    resolve_env,
    worker_pidfile,
)
from .supervisor import Platform

DEFAULT_AGENT_PORT = 8001
# What the node tells the control plane it runs (docker node ls's ENGINE VERSION).
ENGINE_VERSION = "0.1.0"


class JoinFailed(RuntimeError):
    pass


def credentials_file(env: Mapping[str, str]) -> Path:
    return Path(env["DOCKYARD_ROOT"]) / "node.json"


def _local_address(control_url: str) -> str:
    """The address of this host on the route to the control plane: what it can reach us at."""
    parsed = urlparse(control_url)
    family = socket.AF_INET6 if ":" in (parsed.hostname or "") else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.connect((parsed.hostname or "127.0.0.1", parsed.port or 80))
        return s.getsockname()[0]


def join(control_url: str, token: str, name: str, stream_address: str, labels: dict) -> dict:
    """Spend the join token; answers the control plane's grant."""
    # Here rather than at the top: urllib brings in the TLS library, which a node that
    # rejoins with its kept credentials never needs (bench/cluster.py measures the supervisor).
    import urllib.error
    import urllib.request

    body = json.dumps(
        {
            "token": token,
            "name": name,
            "stream_address": stream_address,
            "engine_version": ENGINE_VERSION,
            "labels": labels,
        }
    ).encode()
    request = urllib.request.Request(
        control_url.rstrip("/") + "/api/nodes/join",
        data=body,
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)
    except urllib.error.HTTPError as e:
        try:
            message = json.load(e).get("message", "")
        except ValueError:
            message = ""
        raise JoinFailed(f"the control plane refused to join ({e.code}): {message}") from None
    except OSError as e:
        raise JoinFailed(f"cannot reach the control plane at {control_url}: {e}") from None


def save_grant(env: Mapping[str, str], grant: dict) -> None:
    path = credentials_file(env)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(grant, f)


def node_env(env: Mapping[str, str], grant: dict) -> dict[str, str]:
    """The worker's and agent's environment: the node's own credentials, the control plane's
    registry as the default one."""
    env = dict(env)
    env.update(
        DOCKYARD_NODE=grant["Node"],
        DATABASE_URL=grant["DatabaseURL"],
        DOCKYARD_REDIS_URL=grant["RedisURL"],
        DOCKYARD_NODE_STREAM_TOKEN=grant["StreamToken"],
        DOCKYARD_REGISTRY=grant["Registry"],
        DOCKYARD_AGENT_LISTEN=grant["AgentListen"],
        DOCKYARD_AGENT_ADVERTISE=grant["AgentAdvertise"],
    )
    insecure = [r for r in env.get("DOCKYARD_INSECURE_REGISTRIES", "").split(",") if r]
    if grant.get("Insecure") and grant["Registry"] not in insecure:
        insecure.append(grant["Registry"])
    env["DOCKYARD_INSECURE_REGISTRIES"] = ",".join(insecure)
    return env


def prepare(env: Mapping[str, str]) -> None:
    """Log in once, fix up the host and register the node's facts, before serving: a revoked
    node says so here instead of crashing in a loop."""
    done = subprocess.run(
        [str(VENV_BIN / "python"), "-m", "dockyard.node_process", "--prepare"],
        cwd=SOURCE_DIR,
        env=dict(env),
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        said = done.stderr.strip()
        if said.startswith("error: "):
            raise JoinFailed(said.removeprefix("error: "))
        raise JoinFailed(f"preparing the node failed:\n{done.stdout}{done.stderr}")


def node_service(env: Mapping[str, str]) -> Service:
    """The node's one process; it serves once its worker and its agent both do."""
    worker_pid, agent_ready = worker_pidfile(env), agent_ready_file(env)

    def clear() -> None:
        worker_pid.unlink(missing_ok=True)
        agent_ready.unlink(missing_ok=True)

    return Service(
        "node",
        [str(VENV_BIN / "python"), "-m", "dockyard.node_process"],
        probe=lambda: worker_pid.exists() and agent_ready.exists(),
        before=clear,
        # glibc gives each thread that allocates an arena of its own, up to 8 per CPU, and
        # each keeps what it freed: with two, the process holds 115 MB instead of 119 MB after
        # the work of bench/cluster.py.
        env={"MALLOC_ARENA_MAX": "2"},
    )


def grant_for(args: argparse.Namespace, env: Mapping[str, str]) -> dict:
    """A new grant when a token is given, else the one kept from an earlier join."""
    if args.token:
        if not args.join:
            raise JoinFailed("JOIN (the control plane's URL) is needed with TOKEN")
        name = args.name or env["DOCKYARD_NODE"]
        advertise = args.advertise or _local_address(args.join)
        listen = args.listen or f"0.0.0.0:{DEFAULT_AGENT_PORT}"
        port = listen.rsplit(":", 1)[1]
        shown = f"[{advertise}]" if ":" in advertise else advertise
        labels = dict(label.split("=", 1) for label in args.label or [] if "=" in label)
        grant = join(args.join, args.token, name, f"tcp://{shown}:{port}", labels)
        grant.update(
            AgentListen=listen,
            AgentAdvertise=advertise,
            Insecure=urlparse(args.join).scheme == "http",
        )
        save_grant(env, grant)
        return grant
    try:
        return json.loads(credentials_file(env).read_text())
    except FileNotFoundError:
        raise JoinFailed(
            f"this host has not joined yet ({credentials_file(env)} is missing): "
            "make node JOIN=<control plane URL> TOKEN=<token from manage.py join_token>"
        ) from None


def _start_over_with_kept_credentials(timeout: float) -> NoReturn:
    """Serve as a rejoining node would, from a fresh interpreter: the join's HTTP client
    brought in the TLS library, 7 MB (bench/cluster.py) this long-lived supervisor would
    otherwise hold for good."""
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, "-m", "dockyard.node", "--timeout", str(timeout)])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dockyard.node",
        description="Join a Dockyard control plane and run this node's worker and agent.",
    )
    parser.add_argument("--join", help="the control plane's URL, as printed by join_token")
    parser.add_argument("--token", help="a join token (only for the first join)")
    parser.add_argument("--name", help="this node's name (default: DOCKYARD_NODE or hostname)")
    parser.add_argument("--listen", help=f"agent's TCP address (0.0.0.0:{DEFAULT_AGENT_PORT})")
    parser.add_argument("--advertise", help="the address the control plane reaches us at")
    parser.add_argument("--label", action="append", help="a placement label key=value")
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args(argv)

    env = resolve_env({"DOCKYARD_CLUSTER": ""})
    signal.signal(signal.SIGTERM, _raise_stop)
    signal.signal(signal.SIGHUP, _raise_stop)
    platform = None
    try:
        grant = grant_for(args, env)
        if args.token:
            _start_over_with_kept_credentials(args.timeout)
        env = node_env(env, grant)
        prepare(env)
        platform = Platform(env=env, services=[node_service(env)])
        platform.start(timeout=args.timeout)
        platform.wait_ready(timeout=args.timeout)
        print(f"Node {grant['Node']} joined; worker and agent running. Ctrl-C stops them.")
        sys.stdout.flush()
        while platform.failure is None:
            time.sleep(0.5)
        return 1
    except (JoinFailed, PlatformError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, _Stop):
        return 0
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        if platform is not None:
            platform.stop()


if __name__ == "__main__":
    sys.exit(main())
