"""A cluster on one machine: a PostgreSQL control plane and two nodes, each in a network
namespace of its own that reaches the control plane only over a veth, driven with the docker
CLI against the control plane's socket."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from dockyard.simulated_nodes import descendants, simulated_cluster
from runtime.containers import lifecycle
from runtime.paths import RuntimePaths

pytestmark = [pytest.mark.e2e, pytest.mark.privileged, pytest.mark.slow]


@pytest.fixture(scope="module")
def cluster():
    if os.geteuid() != 0 or not shutil.which("docker") or not shutil.which("nsenter"):
        pytest.skip("needs root, the docker CLI and nsenter")
    with simulated_cluster(2) as running:
        token = running.join_token()
        first, second = running.nodes
        first.start(running.url, token, labels={"disk": "ssd"})
        first.wait_running()
        second.start(running.url, running.join_token())
        second.wait_running()
        yield running


def docker(cluster, *args, timeout=120):
    return cluster.control.docker(*args, timeout=timeout)


def ok(cluster, *args, timeout=120) -> str:
    done = docker(cluster, *args, timeout=timeout)
    assert done.returncode == 0, f"docker {' '.join(args)}: {done.stderr}"
    return done.stdout.strip()


def node_of(cluster, name: str) -> str:
    return ok(cluster, "inspect", "-f", "{{.Node.Name}}", name)


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"not within {timeout}s: {what}")


def node_rows(cluster) -> dict[str, dict]:
    out = ok(cluster, "node", "ls", "--format", "{{json .}}")
    return {row["Hostname"]: row for row in map(json.loads, out.splitlines())}


def test_joined_nodes_are_listed_ready(cluster):
    rows = node_rows(cluster)
    for node in cluster.nodes:
        assert rows[node.name]["Status"] == "Ready"
        assert rows[node.name]["Availability"] == "Active"
    assert len(rows) == 3
    info = json.loads(ok(cluster, "info", "--format", "{{json .}}"))
    assert info["Swarm"]["LocalNodeState"] == "inactive"
    status = dict((k.strip(), v) for k, v in info["SystemStatus"])
    assert status["Nodes"] == "3"
    assert all(node.name in status for node in cluster.nodes)


def test_a_second_use_of_a_join_token_is_refused(cluster):
    token = cluster.join_token()

    def join():
        request = urllib.request.Request(
            f"{cluster.url}/api/nodes/join",
            data=json.dumps({"token": token, "name": "intruder"}).encode(),
            headers={"Content-Type": "application/json"},
        )
        return urllib.request.urlopen(request, timeout=30)

    join().close()
    with pytest.raises(urllib.error.HTTPError) as refused:
        join()
    assert refused.value.code == 403
    assert "invalid join token" in json.load(refused.value)["message"]
    cluster.control.manage("revoke_node", "intruder")


def test_run_logs_exec_cp_stop_on_a_remote_node(cluster, tmp_path):
    node = cluster.nodes[1]
    ok(cluster, "run", "-d", "--name", "remote1", "--label", f"dockyard.node={node.name}",
       "busybox", "sh", "-c", "echo hello from the node; sleep 600")  # fmt: skip
    try:
        assert node_of(cluster, "remote1") == node.name
        # It runs on that node's runtime, not on the control plane's.
        paths = RuntimePaths(root=node.root, run=node.run)
        cid = ok(cluster, "inspect", "-f", "{{.Id}}", "remote1")
        assert cid in lifecycle.list_ids(paths)
        wait_for(
            lambda: "hello from the node" in ok(cluster, "logs", "remote1"), 20, "the log line"
        )
        assert ok(cluster, "exec", "remote1", "cat", "/etc/hostname") == cid[:12]
        (tmp_path / "in.txt").write_text("copied in\n")
        ok(cluster, "cp", str(tmp_path / "in.txt"), "remote1:/tmp/in.txt")
        assert ok(cluster, "exec", "remote1", "cat", "/tmp/in.txt") == "copied in"
        ok(cluster, "cp", "remote1:/tmp/in.txt", str(tmp_path / "out.txt"))
        assert (tmp_path / "out.txt").read_text() == "copied in\n"
        stats = ok(cluster, "stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}}",
                   "remote1")  # fmt: skip
        assert stats.startswith("remote1 ")
        ok(cluster, "stop", "-t", "1", "remote1")
        assert ok(cluster, "inspect", "-f", "{{.State.Status}}", "remote1") == "exited"
        # Attached, and removed by the node's agent when it exits.
        pinned = f"dockyard.node={node.name}"
        assert ok(cluster, "run", "--rm", "--label", pinned, "busybox", "echo", "bye") == "bye"
        assert ok(cluster, "ps", "-aq", "--filter", f"label={pinned}").split() == [cid[:12]]
    finally:
        docker(cluster, "rm", "-f", "remote1")


USER_SETUP = """
from django.contrib.auth.models import User
from accounts.services import do_create_token
user = User.objects.create_user("dev", password="dev-pw-1")
print(do_create_token(user, "cli", ["read", "write"])[1])
"""


def test_a_user_over_tcp_runs_on_a_node_that_lacked_the_image(cluster, tmp_path):
    """The node pulls busybox from the platform's registry with a short-lived read-only token
    of the user; the user is no admin and sees only their own containers."""
    secret = cluster.control.manage("shell", "-c", USER_SETUP).strip().splitlines()[-1]
    config = tmp_path / "docker-config"
    config.mkdir()
    (config / "config.json").write_text(
        json.dumps({"HttpHeaders": {"Authorization": f"Bearer {secret}"}})
    )
    env = {**os.environ, "DOCKER_HOST": f"tcp://127.0.0.1:{cluster.control.env['DOCKYARD_PORT']}"}
    env["DOCKER_CONFIG"] = str(config)
    node = cluster.nodes[0]

    def user_docker(*args):
        return subprocess.run(
            ["docker", *args], capture_output=True, text=True, timeout=120, env=env
        )

    done = user_docker("run", "--rm", "--label", f"dockyard.node={node.name}",
                       "busybox", "echo", "from the user")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "from the user"
    # The pull's token was revoked once the pull was done.
    tokens = cluster.control.manage(
        "shell", "-c",
        "from accounts.models import AccessToken; "
        "print(sorted((t.name, t.revoked) for t in AccessToken.objects.all()))",
    )  # fmt: skip
    assert f"('pull onto node {node.name}', True)" in tokens
    assert f"('pull onto node {node.name}', False)" not in tokens


def test_placement_by_load_then_by_constraint(cluster):
    names = []
    try:
        # Without a label, each new container goes to the node with the fewest: with none
        # anywhere, three go to three nodes.
        for i in range(3):
            ok(cluster, "run", "-d", "--name", f"spread{i}", "busybox", "sleep", "600")
            names.append(f"spread{i}")
        placed = {node_of(cluster, f"spread{i}") for i in range(3)}
        assert len(placed) == 3, placed
        ok(cluster, "run", "-d", "--name", "ssd1", "--label",
           "dockyard.constraint=node.labels.disk==ssd", "busybox", "sleep", "600")  # fmt: skip
        names.append("ssd1")
        assert node_of(cluster, "ssd1") == cluster.nodes[0].name
        second = cluster.nodes[1].name
        ok(cluster, "run", "-d", "--name", "swarmenv", "-e", f"constraint:node=={second}",
           "busybox", "sleep", "600")  # fmt: skip
        names.append("swarmenv")
        assert node_of(cluster, "swarmenv") == second
    finally:
        docker(cluster, "rm", "-f", *names)


def test_a_drained_node_gets_nothing_new(cluster):
    drained = cluster.nodes[0]
    ok(cluster, "node", "update", "--availability", "drain", drained.name)
    names = []
    try:
        assert node_rows(cluster)[drained.name]["Availability"] == "Drain"
        for i in range(3):
            ok(cluster, "run", "-d", "--name", f"nodrain{i}", "busybox", "sleep", "600")
            names.append(f"nodrain{i}")
            assert node_of(cluster, f"nodrain{i}") != drained.name
        refused = docker(cluster, "run", "-d", "--label", f"dockyard.node={drained.name}",
                         "busybox", "true")  # fmt: skip
        assert refused.returncode != 0
        assert "no node is up and active" in refused.stderr
    finally:
        docker(cluster, "rm", "-f", *names)
        ok(cluster, "node", "update", "--availability", "active", drained.name)


def test_a_killed_node_is_down_then_rejoins_without_duplicates(cluster):
    node = cluster.nodes[1]
    ok(cluster, "run", "-d", "--name", "survivor", "--label", f"dockyard.node={node.name}",
       "--restart", "always", "busybox", "sleep", "600")  # fmt: skip
    ok(cluster, "run", "-d", "--name", "mover", "--label", f"dockyard.node={node.name}",
       "--label", "dockyard.reschedule=on-node-failure", "--restart", "always",
       "busybox", "sleep", "600")  # fmt: skip
    old_mover = ok(cluster, "inspect", "-f", "{{.Id}}", "mover")
    try:
        node.kill()
        killed = time.monotonic()
        wait_for(lambda: node_rows(cluster)[node.name]["Status"] == "Down", 25, "node down")
        assert time.monotonic() - killed < 21
        state = ok(cluster, "ps", "-a", "--filter", "name=survivor", "--format", "{{.State}}")
        assert state == "unknown"
        began = time.monotonic()
        refused = docker(cluster, "logs", "survivor")
        assert refused.returncode != 0
        assert node.name in refused.stderr
        assert time.monotonic() - began < 5
        # The opted-in one is recreated elsewhere under its name; the other waits for its node.
        wait_for(
            lambda: (
                ok(cluster, "ps", "--filter", "name=mover", "--format", "{{.State}}") == "running"
            ),
            30,
            "mover running elsewhere",
        )
        assert node_of(cluster, "mover") != node.name
        assert ok(cluster, "inspect", "-f", "{{.Id}}", "mover") != old_mover
        node.mark_start()
        node.start(cluster.url)
        node.wait_running()
        wait_for(lambda: node_rows(cluster)[node.name]["Status"] == "Ready", 30, "node ready")
        state = ok(cluster, "ps", "--filter", "name=survivor", "--format", "{{.State}}")
        assert state == "running"
        assert ok(cluster, "ps", "-aq", "--filter", "name=survivor").count("\n") == 0
        paths = RuntimePaths(root=node.root, run=node.run)
        cid = ok(cluster, "inspect", "-f", "{{.Id}}", "survivor")
        assert lifecycle.list_ids(paths).count(cid) == 1
        # The moved container's old copy is gone from its node once the node is back.
        wait_for(lambda: old_mover not in lifecycle.list_ids(paths), 20, "old copy removed")
        assert ok(cluster, "ps", "-aq", "--filter", "name=mover").count("\n") == 0
    finally:
        docker(cluster, "rm", "-f", "survivor", "mover")


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def node_process(node) -> int | None:
    """The pid of the one process running the node's worker and agent."""
    found = [p for p in descendants(node.process.pid) if b"dockyard.node_process" in _cmdline(p)]
    return found[0] if found else None


def test_a_joined_node_runs_one_process_that_is_started_again_when_it_dies(cluster):
    node = cluster.nodes[0]
    # Under its supervisor, the worker and the agent share one process.
    cmdlines = [_cmdline(p) for p in descendants(node.process.pid)]
    assert sum(b"dockyard.node_process" in c for c in cmdlines) == 1
    assert not any(b"celery" in c or b"run_agent" in c for c in cmdlines)
    old = node_process(node)
    os.kill(old, signal.SIGKILL)
    wait_for(lambda: node_process(node) not in (None, old), 20, "a new node process")
    pinned = f"dockyard.node={node.name}"

    def runs_there() -> bool:
        done = docker(cluster, "run", "--rm", "--label", pinned, "busybox", "echo", "back")
        return done.returncode == 0 and done.stdout.strip() == "back"

    wait_for(runs_there, 60, "a container run on the node again")
    assert node_rows(cluster)[node.name]["Status"] == "Ready"
    assert "node was killed by SIGKILL; restarting it in 0.5s" in node.log.read_text()


def test_a_nodes_credentials_reach_only_what_a_node_needs(cluster):
    mine, other = cluster.nodes[1], cluster.nodes[0]
    ok(cluster, "run", "-d", "--name", "victim", "--label", f"dockyard.node={other.name}",
       "busybox", "sleep", "600")  # fmt: skip
    try:
        _probe_credentials(cluster, mine, other)
        assert ok(cluster, "inspect", "-f", "{{.State.Status}}", "victim") == "running"
    finally:
        docker(cluster, "rm", "-f", "victim")


def _probe_credentials(cluster, mine, other) -> None:
    import psycopg
    import redis

    grant = json.loads((mine.root / "node.json").read_text())
    with psycopg.connect(grant["DatabaseURL"], autocommit=True) as db:
        assert db.execute("SELECT count(*) FROM engine_container").fetchone()[0] >= 0
        # Its own node's rows only: another node's containers are neither seen nor changed.
        theirs = db.execute("SELECT id FROM engine_node WHERE name = %s", [other.name])
        assert theirs.fetchone() is None
        assert db.execute("SELECT count(*) FROM engine_node").fetchone()[0] == 1
        changed = db.execute("UPDATE engine_container SET status = 'dead' WHERE name = 'victim'")
        assert changed.rowcount == 0
        for query in (
            "SELECT secret_hash FROM engine_jointoken",
            "SELECT password FROM auth_user",
            "SELECT secret_hash FROM accounts_accesstoken",
            "SELECT session_data FROM django_session",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                db.execute(query)
    client = redis.Redis.from_url(grant["RedisURL"])
    try:
        assert client.llen(f"node.{mine.name}") >= 0
        with pytest.raises(redis.exceptions.NoPermissionError):
            client.llen(f"node.{other.name}")
        with pytest.raises(redis.exceptions.NoPermissionError):
            client.lpush(f"node.{other.name}", "forged task")
        with pytest.raises(redis.exceptions.NoPermissionError):
            client.flushall()
        with pytest.raises(redis.exceptions.NoPermissionError):
            client.acl_list()
    finally:
        client.close()


def test_a_table_an_upgrade_adds_is_usable_by_nodes_that_joined_before(cluster):
    import psycopg

    probe = "engine_upgradeprobe"
    sql = "from django.db import connection; connection.cursor().execute({!r})"
    cluster.control.manage("shell", "-c", sql.format(f"CREATE TABLE {probe} (id integer)"))
    try:
        cluster.control.manage("migrate", "--noinput")
        grant = json.loads((cluster.nodes[0].root / "node.json").read_text())
        with psycopg.connect(grant["DatabaseURL"], autocommit=True) as db:
            db.execute(f"INSERT INTO {probe} VALUES (1)")
            assert db.execute(f"SELECT id FROM {probe}").fetchall() == [(1,)]
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                db.execute("SELECT secret_hash FROM engine_jointoken")
    finally:
        cluster.control.manage("shell", "-c", sql.format(f"DROP TABLE {probe}"))


def test_nodes_keep_their_redis_users_when_the_control_planes_redis_restarts(cluster):
    node = cluster.nodes[1]
    before = cluster.platform.restarts.get("redis", 0)
    os.kill(cluster.platform.pid("redis"), signal.SIGKILL)
    wait_for(lambda: cluster.platform.restarts.get("redis", 0) > before, 20, "redis restarted")

    def runs_there() -> bool:
        docker(cluster, "rm", "-f", "after-redis")
        done = docker(cluster, "run", "-d", "--name", "after-redis", "--label",
                      f"dockyard.node={node.name}", "busybox", "echo", "still here")  # fmt: skip
        return done.returncode == 0

    try:
        wait_for(runs_there, 90, "a container created on the node after Redis restarted")
        wait_for(lambda: ok(cluster, "logs", "after-redis") == "still here", 20, "its output")
        assert node_of(cluster, "after-redis") == node.name
    finally:
        docker(cluster, "rm", "-f", "after-redis")


def test_a_revoked_node_is_refused(cluster):
    node = cluster.nodes[0]
    cluster.control.manage("revoke_node", node.name)
    wait_for(lambda: node_rows(cluster)[node.name]["Status"] == "Down", 25, "revoked node down")
    node.stop()
    node.mark_start()
    done = subprocess.run(
        node.in_netns(*_node_command(cluster)),
        cwd=os.getcwd(),
        env=node.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert "revoked" in done.stderr


def _node_command(cluster) -> list[str]:
    return [sys.executable, "-m", "dockyard.node", "--join", cluster.url]
