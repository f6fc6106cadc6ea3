"""Healthchecks with the docker CLI: the node agent probes on schedule with nobody attached,
inspect, `docker ps` and events tell the state, and `dockyard.health.on-failure` acts."""

import json
import time
import uuid

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.privileged]


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _health(platform, name: str) -> dict | None:
    out = platform.docker("inspect", "--format", "{{json .State.Health}}", name)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def _until(what, deadline_s: float, describe: str):
    """What `what()` answers once it is truthy; fails after `deadline_s` seconds."""
    deadline = time.monotonic() + deadline_s
    while True:
        got = what()
        if got:
            return got
        assert time.monotonic() < deadline, f"timed out waiting for {describe}"
        time.sleep(0.2)


def test_turns_healthy_and_shows_in_ps(platform):
    name = _name("healthy")
    run = platform.docker(
        "run", "-d", "--name", name, "--health-cmd", "echo ok; test -e /bin/sh",
        "--health-interval", "1s", "--health-retries", "2", "busybox", "sleep", "300",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    first = _health(platform, name)
    assert first["Status"] in ("starting", "healthy")
    health = _until(
        lambda: (h := _health(platform, name))["Status"] == "healthy" and h, 20, "healthy"
    )
    assert health["FailingStreak"] == 0
    probe = health["Log"][-1]
    assert probe["ExitCode"] == 0 and probe["Output"] == "ok\n"
    assert probe["Start"] <= probe["End"]
    status = platform.docker("ps", "--filter", f"name={name}", "--format", "{{.Status}}")
    assert status.stdout.strip().endswith("(healthy)"), status.stdout
    # The detached container is probed with no client attached; past five probes the log
    # keeps only the last five.
    fifth = _until(lambda: (h := _health(platform, name))["Log"][4:] and h, 20, "five probes")
    newer = _until(
        lambda: (
            (h := _health(platform, name))["Log"][-1]["Start"] > fifth["Log"][-1]["Start"] and h
        ),
        20,
        "a sixth probe",
    )
    assert len(newer["Log"]) == 5
    platform.docker("rm", "-f", name)


def test_turns_unhealthy_with_events_and_restarts(platform):
    name = _name("sick")
    since = str(int(time.time()))
    run = platform.docker(
        "run", "-d", "--name", name, "--health-cmd", "false", "--health-interval", "1s",
        "--health-retries", "2", "--label", "dockyard.health.on-failure=restart",
        "busybox", "sleep", "300",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    cid = run.stdout.strip()
    first_start = platform.docker("inspect", "--format", "{{.State.StartedAt}}", name).stdout

    def restarted():
        now = platform.docker("inspect", "--format", "{{.State.StartedAt}}", name).stdout
        return now != first_start

    _until(restarted, 30, "the restart the on-failure label asks for")
    events = platform.docker(
        "events", "--since", since, "--until", str(int(time.time()) + 1),
        "--filter", f"container={cid}", "--format", "{{.Action}}",
    )  # fmt: skip
    actions = events.stdout.split("\n")
    assert "health_status: unhealthy" in actions, events.stdout
    assert actions.index("health_status: unhealthy") < len(actions) - actions[::-1].index("start")
    # The new run starts its health over.
    assert _health(platform, name)["Status"] in ("starting", "unhealthy")
    platform.docker("rm", "-f", name)


def test_unhealthy_without_action_keeps_running_and_ps_says_so(platform):
    name = _name("ill")
    run = platform.docker(
        "run", "-d", "--name", name, "--health-cmd", "echo no >&2; exit 3",
        "--health-interval", "1s", "--health-retries", "2", "busybox", "sleep", "300",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    health = _until(
        lambda: (h := _health(platform, name))["Status"] == "unhealthy" and h, 20, "unhealthy"
    )
    assert health["FailingStreak"] >= 2
    assert health["Log"][-1]["ExitCode"] == 3 and health["Log"][-1]["Output"] == "no\n"
    status = platform.docker("ps", "--filter", f"name={name}", "--format", "{{.Status}}")
    assert status.stdout.strip().endswith("(unhealthy)"), status.stdout
    assert platform.docker("inspect", "-f", "{{.State.Running}}", name).stdout.strip() == "true"
    platform.docker("rm", "-f", name)


def test_stop_action_and_timeout(platform):
    name = _name("slow")
    run = platform.docker(
        "run", "-d", "--name", name, "--health-cmd", "sleep 5", "--health-interval", "1s",
        "--health-timeout", "500ms", "--health-retries", "1",
        "--label", "dockyard.health.on-failure=stop", "busybox", "sleep", "300",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    _until(
        lambda: (
            platform.docker("inspect", "-f", "{{.State.Running}}", name).stdout.strip() == "false"
        ),
        30,
        "the stop the on-failure label asks for",
    )
    health = _health(platform, name)
    assert health["Status"] == "unhealthy"
    assert health["Log"][-1]["ExitCode"] == -1
    assert "exceeded timeout" in health["Log"][-1]["Output"]
    platform.docker("rm", "-f", name)


def test_an_invalid_on_failure_action_is_refused(platform):
    made = platform.docker(
        "create", "--label", "dockyard.health.on-failure=explode", "busybox", "true"
    )
    assert made.returncode != 0
    assert "dockyard.health.on-failure" in made.stderr


def _build(platform, tmp_path, dockerfile: str, tag: str) -> None:
    (tmp_path / "Dockerfile").write_text(dockerfile)
    built = platform.docker("build", "-t", tag, str(tmp_path), timeout=300)
    assert built.returncode == 0, built.stderr


def test_healthcheck_from_a_build(platform, tmp_path):
    tag = f"hc-{uuid.uuid4().hex[:8]}"
    _build(
        platform,
        tmp_path,
        "FROM busybox\n"
        "HEALTHCHECK --interval=1s --timeout=3s --start-period=30s --retries=1 "
        "CMD test -e /tmp/ready\n",
        tag,
    )
    config = json.loads(
        platform.docker("image", "inspect", "-f", "{{json .Config.Healthcheck}}", tag).stdout
    )
    assert config == {
        "Test": ["CMD-SHELL", "test -e /tmp/ready"],
        "Interval": 1_000_000_000,
        "Timeout": 3_000_000_000,
        "StartPeriod": 30_000_000_000,
        "Retries": 1,
    }
    name = _name("built")
    assert platform.docker("run", "-d", "--name", name, tag, "sleep", "300").returncode == 0
    # Failures within the start period do not count: still starting after a few probes.
    _until(lambda: len(_health(platform, name)["Log"]) >= 2, 20, "two probes")
    assert _health(platform, name)["Status"] == "starting"
    status = platform.docker("ps", "--filter", f"name={name}", "--format", "{{.Status}}")
    assert status.stdout.strip().endswith("(health: starting)"), status.stdout
    assert platform.docker("exec", name, "touch", "/tmp/ready").returncode == 0
    _until(lambda: _health(platform, name)["Status"] == "healthy", 20, "healthy")
    # The command line tunes the image's check; --no-healthcheck drops it.
    other = _name("nocheck")
    run = platform.docker("run", "-d", "--name", other, "--no-healthcheck", tag, "sleep", "300")
    assert run.returncode == 0, run.stderr
    assert _health(platform, other) is None
    platform.docker("rm", "-f", name, other)
    platform.docker("rmi", tag)


def test_healthcheck_none_in_a_build_disables_the_base_images(platform, tmp_path):
    base = f"hcbase-{uuid.uuid4().hex[:8]}"
    _build(platform, tmp_path, "FROM busybox\nHEALTHCHECK --interval=1s CMD true\n", base)
    child = f"hcnone-{uuid.uuid4().hex[:8]}"
    _build(platform, tmp_path, f"FROM {base}\nHEALTHCHECK NONE\n", child)
    config = json.loads(
        platform.docker("image", "inspect", "-f", "{{json .Config.Healthcheck}}", child).stdout
    )
    assert config == {"Test": ["NONE"]}
    name = _name("none")
    assert platform.docker("run", "-d", "--name", name, child, "sleep", "300").returncode == 0
    assert _health(platform, name) is None
    status = platform.docker("ps", "--filter", f"name={name}", "--format", "{{.Status}}")
    assert "health" not in status.stdout
    platform.docker("rm", "-f", name)
    platform.docker("rmi", child, base)


def test_docker_py_sees_health(platform):
    docker = pytest.importorskip("docker")
    client = docker.DockerClient(base_url=platform.docker_host)
    try:
        c = client.containers.run(
            "busybox",
            ["sleep", "300"],
            detach=True,
            healthcheck={"test": ["CMD", "true"], "interval": 500_000_000, "retries": 1},
        )
        try:
            deadline = time.monotonic() + 20
            while True:
                c.reload()
                if c.attrs["State"]["Health"]["Status"] == "healthy":
                    break
                assert time.monotonic() < deadline, c.attrs["State"]["Health"]
                time.sleep(0.2)
            assert c.health == "healthy"
        finally:
            c.remove(force=True)
    finally:
        client.close()
