"""What `DOCKYARD_CLUSTER=1 make up` starts, without starting it."""

import stat
from pathlib import Path

from dockyard.services import resolve_env
from dockyard.supervisor import Platform


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return resolve_env(
        {
            "DOCKYARD_ROOT": str(tmp_path / "root"),
            "DOCKYARD_RUN_DIR": str(tmp_path / "run"),
            "DOCKYARD_CLUSTER": "1",
            **extra,
        }
    )


def test_a_control_plane_starts_postgres_first_and_the_monitor_last(tmp_path):
    platform = Platform(env=_env(tmp_path))
    assert platform.names[0] == "postgres"
    assert platform.names[1] == "redis"
    assert platform.names[-1] == "monitor"
    assert {"worker", "agent", "web", "gateway"} <= set(platform.names)


def test_its_processes_use_postgres_and_a_redis_user(tmp_path):
    env = _env(tmp_path, DOCKYARD_PG_PORT="15432", DOCKYARD_CLUSTER_REDIS_PORT="16379")
    assert env["DATABASE_URL"].startswith("postgresql://dockyard:")
    assert "port=15432" in env["DATABASE_URL"]
    assert env["DOCKYARD_REDIS_URL"].startswith("redis://dockyard:")
    assert env["DOCKYARD_REDIS_URL"].endswith("@127.0.0.1:16379/0")
    secrets = tmp_path / "root" / "cluster" / "secrets.json"
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o600
    # The same passwords on the next start.
    assert _env(tmp_path, DOCKYARD_PG_PORT="15432")["DATABASE_URL"] == env["DATABASE_URL"]


def test_an_external_database_starts_no_postgres(tmp_path):
    env = _env(tmp_path, DATABASE_URL="postgresql://u:p@db.example/dockyard")
    platform = Platform(env=env)
    assert "postgres" not in platform.names
    assert env["DATABASE_URL"] == "postgresql://u:p@db.example/dockyard"
    redis = next(s for s in platform.services if s.name == "redis")
    assert redis.ready is not None


def test_without_the_setting_nothing_changes(tmp_path):
    env = resolve_env({"DOCKYARD_ROOT": str(tmp_path / "root")})
    assert "DATABASE_URL" not in env or not env["DATABASE_URL"].startswith("postgresql://dockyard")
    assert "postgres" not in Platform(env=env).names
