"""The control plane of a cluster: a private PostgreSQL and a Redis with ACL users.

`DOCKYARD_CLUSTER=1 make up` runs these in place of SQLite and the socket-only Redis, so other
hosts can join as nodes (`make node`, see dockyard/node.py). Each node gets a database role
and a Redis user of its own from the join endpoint; this module only starts the servers and
holds the platform's own passwords.

PostgreSQL refuses to run as root, so its cluster (initdb'd under DOCKYARD_ROOT/postgres)
belongs to Debian's `postgres` user; its unix socket sits in the data directory for the
local processes, and it listens on DOCKYARD_CLUSTER_LISTEN (all addresses by default) for
nodes, with scram-sha-256 passwords everywhere. With DATABASE_URL set, that database is used
and no PostgreSQL is started. Like the launcher, this imports no Django settings.
"""

import glob
import json
import os
import pwd
import secrets
import socket
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import replace
from hashlib import sha256
from pathlib import Path
from urllib.parse import quote

from .services import VENV_BIN, PlatformError, Service

PG_USER = "postgres"
DB_NAME = "dockyard"
DB_ADMIN = "dockyard"
REDIS_ADMIN = "dockyard"


def _secrets(root: Path) -> dict[str, str]:
    """The platform's own database and Redis passwords, made once and kept under the root."""
    path = root / "cluster" / "secrets.json"
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    values = {"database": secrets.token_urlsafe(24), "redis": secrets.token_urlsafe(24)}
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(values, f)
    return values


def pg_bin(tool: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{tool}"), key=_version_key)
    if not found:
        raise PlatformError("PostgreSQL is not installed (Debian's postgresql package)")
    return found[-1]


def _version_key(path: str) -> int:
    part = Path(path).parts[4]
    return int(part) if part.isdigit() else 0


def pg_dir(env: Mapping[str, str]) -> Path:
    return Path(env["DOCKYARD_ROOT"]) / "postgres"


def control_env(env: Mapping[str, str]) -> dict[str, str]:
    """`env` with the control plane's DATABASE_URL and DOCKYARD_REDIS_URL filled in."""
    env = dict(env)
    root = Path(env["DOCKYARD_ROOT"])
    root.mkdir(parents=True, exist_ok=True)
    passwords = _secrets(root)
    env.setdefault("DOCKYARD_PG_PORT", "5432")
    env.setdefault("DOCKYARD_CLUSTER_REDIS_PORT", "6379")
    env.setdefault("DOCKYARD_CLUSTER_LISTEN", "*")
    # An environment resolved before (the launcher's own) already names the private one.
    if env.get("DATABASE_URL") and not env.get("DOCKYARD_PRIVATE_DATABASE"):
        env["DOCKYARD_EXTERNAL_DATABASE"] = "1"
    elif not env.get("DATABASE_URL"):
        env["DOCKYARD_PRIVATE_DATABASE"] = "1"
        socket_dir = quote(str(pg_dir(env) / "data"), safe="")
        env["DATABASE_URL"] = (
            f"postgresql://{DB_ADMIN}:{quote(passwords['database'], safe='')}@/{DB_NAME}"
            f"?host={socket_dir}&port={env['DOCKYARD_PG_PORT']}"
        )
    env["DOCKYARD_REDIS_URL"] = (
        f"redis://{REDIS_ADMIN}:{quote(passwords['redis'], safe='')}"
        f"@127.0.0.1:{env['DOCKYARD_CLUSTER_REDIS_PORT']}/0"
    )
    return env


def _as_postgres() -> None:
    user = pwd.getpwnam(PG_USER)
    os.setgid(user.pw_gid)
    os.setgroups([])
    os.setuid(user.pw_uid)


def init_postgres(env: Mapping[str, str]) -> None:
    """initdb the private cluster on first use, owned by the postgres user."""
    data = pg_dir(env) / "data"
    if (data / "PG_VERSION").exists():
        return
    user = pwd.getpwnam(PG_USER)
    pg_dir(env).mkdir(parents=True, exist_ok=True)
    # Only the postgres user's own directory is its: the root stays root's, but it must be
    # able to pass through it.
    Path(env["DOCKYARD_ROOT"]).chmod(Path(env["DOCKYARD_ROOT"]).stat().st_mode | 0o011)
    os.chown(pg_dir(env), user.pw_uid, user.pw_gid)
    pg_dir(env).chmod(0o700)
    pwfile = pg_dir(env) / "pwfile"
    pwfile.write_text(_secrets(Path(env["DOCKYARD_ROOT"]))["database"] + "\n")
    os.chown(pwfile, user.pw_uid, user.pw_gid)
    pwfile.chmod(0o600)
    try:
        done = subprocess.run(
            [pg_bin("initdb"), "-D", str(data), "-U", DB_ADMIN, "--auth=scram-sha-256",
             f"--pwfile={pwfile}", "-E", "UTF8", "--locale=C.UTF-8"],
            preexec_fn=_as_postgres, cwd="/", capture_output=True, text=True,
        )  # fmt: skip
    finally:
        pwfile.unlink(missing_ok=True)
    if done.returncode != 0:
        raise PlatformError(f"initdb failed: {done.stdout}{done.stderr}")
    # Nodes on other hosts connect over TCP, each with its own role's password.
    (data / "pg_hba.conf").write_text(
        "local all all scram-sha-256\n"
        "host all all 0.0.0.0/0 scram-sha-256\n"
        "host all all ::/0 scram-sha-256\n"
    )


def postgres_answers(env: Mapping[str, str]) -> bool:
    data = pg_dir(env) / "data"
    done = subprocess.run(
        [pg_bin("pg_isready"), "-q", "-h", str(data), "-p", env["DOCKYARD_PG_PORT"]],
        capture_output=True,
    )
    return done.returncode == 0


def create_database(env: Mapping[str, str]) -> None:
    """The platform's database in the fresh cluster, then its tables and its node."""
    import psycopg

    password = _secrets(Path(env["DOCKYARD_ROOT"]))["database"]
    with psycopg.connect(
        host=str(pg_dir(env) / "data"),
        port=env["DOCKYARD_PG_PORT"],
        user=DB_ADMIN,
        password=password,
        dbname="postgres",
        autocommit=True,
    ) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DB_NAME,))
        if exists.fetchone() is None:
            conn.execute(f'CREATE DATABASE "{DB_NAME}"')


def prepare_control(env: Mapping[str, str]) -> None:
    """What `make setup` does for SQLite, done against the cluster's database once it runs."""
    if not env.get("DOCKYARD_EXTERNAL_DATABASE"):
        create_database(env)
    python = str(VENV_BIN / "python")
    for args in (["migrate", "--no-input"], ["prepare_node"], ["ensure_admin"]):
        done = subprocess.run(
            [python, "manage.py", *args],
            cwd=Path(__file__).resolve().parent.parent,
            env=dict(env),
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise PlatformError(f"manage.py {args[0]} failed:\n{done.stdout}{done.stderr}")
        if args[0] != "migrate":
            # The node's line and, the first time, the admin's generated password.
            sys.stdout.write(done.stdout)


def postgres_service(env: Mapping[str, str]) -> Service:
    data = pg_dir(env) / "data"
    return Service(
        "postgres",
        [
            "setpriv", f"--reuid={PG_USER}", f"--regid={PG_USER}", "--clear-groups", "--",
            pg_bin("postgres"), "-D", str(data), "-k", str(data),
            "-p", env["DOCKYARD_PG_PORT"],
            "-c", f"listen_addresses={env['DOCKYARD_CLUSTER_LISTEN']}",
            "-c", "max_connections=300",
        ],
        probe=lambda: postgres_answers(env),
        blocking=True,
        before=lambda: init_postgres(env),
        ready=lambda: prepare_control(env),
    )  # fmt: skip


def _acl_file(env: Mapping[str, str]) -> Path:
    return Path(env["DOCKYARD_ROOT"]) / "redis" / "users.acl"


def write_admin_acl(env: Mapping[str, str]) -> None:
    """The platform's own Redis user; nodes' users are added by the join endpoint and kept
    in the same file (ACL SAVE), so a restarted Redis still knows them."""
    path = _acl_file(env)
    path.parent.mkdir(parents=True, exist_ok=True)
    digest = sha256(_secrets(Path(env["DOCKYARD_ROOT"]))["redis"].encode()).hexdigest()
    admin = f"user {REDIS_ADMIN} on #{digest} ~* &* +@all"
    lines = [admin, "user default off"]
    if path.exists():
        kept = [
            line
            for line in path.read_text().splitlines()
            if line.startswith("user ") and line.split()[1] not in (REDIS_ADMIN, "default")
        ]
        lines += kept
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)


def redis_answers(env: Mapping[str, str]) -> bool:
    password = _secrets(Path(env["DOCKYARD_ROOT"]))["redis"]
    try:
        with socket.create_connection(
            ("127.0.0.1", int(env["DOCKYARD_CLUSTER_REDIS_PORT"])), timeout=1
        ) as s:
            s.sendall(
                f"*3\r\n$4\r\nAUTH\r\n${len(REDIS_ADMIN)}\r\n{REDIS_ADMIN}\r\n"
                f"${len(password)}\r\n{password}\r\n*1\r\n$4\r\nPING\r\n".encode()
            )
            answer = b""
            while answer.count(b"\r\n") < 2:
                chunk = s.recv(64)
                if not chunk:
                    break
                answer += chunk
            return answer == b"+OK\r\n+PONG\r\n"
    except OSError:
        return False


def redis_service(env: Mapping[str, str], local: Service) -> Service:
    """The platform's Redis, also on TCP for nodes, with users instead of one open door."""
    listen = env["DOCKYARD_CLUSTER_LISTEN"]
    bind = ["*", "-::*"] if listen == "*" else [listen]
    return Service(
        "redis",
        [
            *local.argv,
            "--port", env["DOCKYARD_CLUSTER_REDIS_PORT"],
            "--bind", *bind,
            "--aclfile", str(_acl_file(env)),
            "--protected-mode", "no",
        ],
        probe=lambda: redis_answers(env),
        blocking=True,
        before=lambda: write_admin_acl(env),
    )  # fmt: skip


def control_services(env: Mapping[str, str], services: dict[str, Service]) -> dict[str, Service]:
    """The platform's services for a control plane: PostgreSQL first, unless DATABASE_URL
    names another, and the Redis with users."""
    chosen = {}
    external = bool(env.get("DOCKYARD_EXTERNAL_DATABASE"))
    if not external:
        chosen["postgres"] = postgres_service(env)
    for name, service in services.items():
        if name == "redis":
            service = redis_service(env, service)
            if external:
                # That database is there already: its tables come once Redis is.
                service = replace(service, ready=lambda: prepare_control(env))
        chosen[name] = service
    chosen["monitor"] = Service(
        "monitor", [str(VENV_BIN / "python"), "manage.py", "run_cluster_monitor"]
    )
    return chosen
