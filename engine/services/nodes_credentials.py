"""A joined node's own credentials: a PostgreSQL role and a Redis ACL user.

A node's worker and agent read and write the engine's tables (containers, networks, volumes,
images of their node) and speak Celery over Redis; they need nothing of the registry, the
accounts or the sessions. So its role may use the engine's tables but the join tokens, and
the audit log, read the user rows containers point to, and nothing else; row-level security
keeps it to its own node's containers, images, networks and volumes. Its Redis user may use
its own queue, the results and channel-layer keys, and no admin or dangerous command (no
KEYS, no FLUSHALL, no CONFIG, no ACL). Revoking drops both and ends their open connections.
"""

import secrets
from dataclasses import dataclass
from urllib.parse import quote

import redis
from django.conf import settings
from django.db import connection

# A node reads these to know who owns what, never the password hashes beside them.
_USER_COLUMNS = "id, username, is_superuser, is_staff, is_active, first_name, last_name, email"
_ENGINE_TABLE_PREFIXES = ("engine_", "webui_audit")
# Join tokens are the control plane's: a node that could write one could let in other hosts.
_CONTROL_ONLY = ("engine_jointoken",)
# Rows a node sees and changes only on itself (row-level security, for members of NODES_ROLE).
_OWN_ROWS = ("engine_image", "engine_container", "engine_network", "engine_volume")
NODES_ROLE = "dockyard_nodes"


@dataclass(frozen=True)
class Credentials:
    database_url: str
    redis_url: str


def role_name(node: str) -> str:
    return "dockyard_node_" + node.replace("-", "_")


def redis_user(node: str) -> str:
    return f"node-{node}"


def grant(node: str, control_host: str) -> Credentials:
    """New credentials for `node` (replacing any it had); `control_host` is the name the node
    reached the control plane by, which it also reaches PostgreSQL and Redis at."""
    host = control_host.rsplit(":", 1)[0] if not control_host.endswith("]") else control_host
    db_password, redis_password = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    database_url = _grant_database(node, db_password, host)
    _grant_redis(node, redis_password)
    port = settings.DOCKYARD_CLUSTER_REDIS_PORT
    redis_url = f"redis://{redis_user(node)}:{quote(redis_password, safe='')}@{host}:{port}/0"
    return Credentials(database_url=database_url, redis_url=redis_url)


def revoke(node: str) -> None:
    _revoke_database(node)
    _revoke_redis(node)


def _postgres() -> bool:
    return connection.vendor == "postgresql"


def _grant_database(node: str, password: str, host: str) -> str:
    if not _postgres():
        # A single machine's SQLite file is not reachable from another host: say so plainly.
        raise RuntimeError("joining needs the PostgreSQL control plane (DOCKYARD_CLUSTER=1)")
    role = role_name(node)
    db = connection.settings_dict
    with connection.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
        verb = "ALTER" if cur.fetchone() else "CREATE"
        # Identifiers cannot be parameters; the role name is [a-z0-9_] by check_name.
        cur.execute(f'{verb} ROLE "{role}" LOGIN PASSWORD %s', [password])
        _grant_nodes_role(cur)
        cur.execute(f'GRANT "{NODES_ROLE}" TO "{role}"')
        cur.execute(f'GRANT CONNECT ON DATABASE "{db["NAME"]}" TO "{role}"')
    port = db["PORT"] or 5432
    return f"postgresql://{role}:{quote(password, safe='')}@{host}:{port}/{db['NAME']}"


def refresh_node_grants() -> None:
    """Give the nodes the engine's tables as the schema is now, after a migration: a table an
    upgrade adds is then usable by the nodes that joined before it. Nothing to do until a
    node has joined (and a platform role without CREATEROLE never needs to make one)."""
    if not _postgres():
        return
    with connection.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [NODES_ROLE])
        if cur.fetchone() is not None:
            _grant_nodes_role(cur)


def _grant_nodes_role(cur) -> None:
    """Every node role is a member of NODES_ROLE and holds its privileges through it."""
    cur.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename LIKE ANY (%s)",
        [[f"{p}%" for p in _ENGINE_TABLE_PREFIXES]],
    )
    tables = [table for (table,) in cur.fetchall() if table not in _CONTROL_ONLY]
    _ensure_row_policies(cur)
    for table in tables:
        cur.execute(f'GRANT SELECT, INSERT, UPDATE, DELETE ON "{table}" TO "{NODES_ROLE}"')
    cur.execute(f'GRANT SELECT ({_USER_COLUMNS}) ON auth_user TO "{NODES_ROLE}"')
    cur.execute(f'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO "{NODES_ROLE}"')


def _ensure_row_policies(cur) -> None:
    """A node role sees its own Node row only, and the containers, images, networks and
    volumes of that node only; the platform's own role owns the tables and is not bound."""
    cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [NODES_ROLE])
    if cur.fetchone() is None:
        cur.execute(f'CREATE ROLE "{NODES_ROLE}" NOLOGIN')
    own = "'dockyard_node_' || replace(name, '-', '_') = current_user"
    policies = {"engine_node": own}
    policies.update({table: "node_id IN (SELECT id FROM engine_node)" for table in _OWN_ROWS})
    for table, condition in policies.items():
        cur.execute(
            "SELECT 1 FROM pg_policies WHERE tablename = %s AND policyname = 'own_node'", [table]
        )
        if cur.fetchone() is None:
            cur.execute(f'ALTER TABLE "{table}" ENABLE ROW LEVEL SECURITY')
            cur.execute(
                f'CREATE POLICY own_node ON "{table}" TO "{NODES_ROLE}" USING ({condition})'
            )


def _revoke_database(node: str) -> None:
    if not _postgres():
        return
    role = role_name(node)
    with connection.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
        if cur.fetchone() is None:
            return
        cur.execute(f'ALTER ROLE "{role}" NOLOGIN')
        cur.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", [role]
        )
        cur.execute(f'REVOKE ALL ON ALL TABLES IN SCHEMA public FROM "{role}"')
        cur.execute(f'REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM "{role}"')
        cur.execute(f'REVOKE ALL ON DATABASE "{connection.settings_dict["NAME"]}" FROM "{role}"')
        cur.execute(f'DROP ROLE "{role}"')


def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


def _grant_redis(node: str, password: str) -> None:
    queue = f"node.{node}"
    client = _redis()
    try:
        client.acl_setuser(
            redis_user(node),
            enabled=True,
            reset=True,
            passwords=[f"+{password}"],
            keys=[
                # Exactly its queue: one list per queue (CELERY_BROKER_TRANSPORT_OPTIONS).
                queue,
                "_kombu.*",
                # The worker's remote-control queue (pidbox), named after its node name.
                f"{node}@*",
                "unacked*",
                "celery-task-meta-*",
                "asgi*",
                "dockyard:events",
            ],
            channels=["*"],
            commands=["+@all", "-@admin", "-@dangerous"],
        )
        client.acl_save()
    finally:
        client.close()


def _revoke_redis(node: str) -> None:
    client = _redis()
    try:
        client.acl_deluser(redis_user(node))
        client.acl_save()
        # A deleted user's open connections are closed by Redis itself (ACL DELUSER).
    finally:
        client.close()
