"""Debian's docker-compose (1.29) runs a stack against the platform: named volumes, two
networks, a healthcheck that gates `depends_on`, published ports, environment and restart
policies, through up, ps, port, logs, exec, restart, stop/start, run and down -v."""

import os
import secrets
import shutil
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.privileged, pytest.mark.slow]
STACK = Path(__file__).with_name("compose") / "stack.yml"


class Compose:
    def __init__(self, platform, project: str):
        self.platform = platform
        self.project = project

    def __call__(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
        env = {**os.environ, "DOCKER_HOST": self.platform.docker_host}
        env["DOCKER_CONFIG"] = str(self.platform.root / "docker-config")
        return subprocess.run(
            ["docker-compose", "-f", str(STACK), "-p", self.project, "--no-ansi", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            stdin=subprocess.DEVNULL,
        )

    def ok(self, *args: str) -> str:
        done = self(*args)
        assert done.returncode == 0, f"docker-compose {' '.join(args)}:\n{done.stdout}{done.stderr}"
        return done.stdout


def until(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not (got := check()):
        assert time.monotonic() < deadline, f"gave up after {timeout:g} s waiting for {what}"
        time.sleep(0.2)
    return got


def page(compose: Compose) -> str:
    address = compose.ok("port", "web", "80").strip()
    with urllib.request.urlopen(f"http://{address}/", timeout=10) as answer:
        return answer.read().decode()


@pytest.fixture(scope="module")
def stack(platform):
    if shutil.which("docker-compose") is None:
        pytest.skip("needs docker-compose (scripts/setup.py installs it)")
    compose = Compose(platform, f"dy{secrets.token_hex(3)}")
    compose.ok("up", "-d")
    try:
        yield compose
    finally:
        compose("down", "-v", "--remove-orphans")


def test_up_waits_for_the_healthy_db_and_ps_shows_both(stack):
    rows = stack.ok("ps")
    assert f"{stack.project}_db_1" in rows and f"{stack.project}_web_1" in rows
    assert "(healthy)" in rows
    health = stack.platform.docker(
        "inspect", "--format", "{{.State.Health.Status}}", f"{stack.project}_db_1"
    )
    assert health.stdout.strip() == "healthy"


def test_the_published_port_serves_the_environment(stack):
    assert page(stack) == "hello from compose\n"


def test_services_reach_each_other_by_name_and_logs_show_output(stack):
    ready = stack.ok("exec", "-T", "web", "wget", "-q", "-O-", "http://db:8080/ready")
    assert ready.strip()
    assert "db ready as primary" in stack.ok("logs", "--no-color", "db")


def test_the_named_volume_keeps_data_across_restart(stack):
    stack.ok("exec", "-T", "db", "sh", "-c", "echo kept > /data/note")
    stack.ok("restart", "db")
    until(lambda: "(healthy)" in stack.ok("ps", "db"), 30, "db healthy again")
    assert stack.ok("exec", "-T", "db", "cat", "/data/note").strip() == "kept"


def test_stop_start_and_run_rm(stack):
    stack.ok("stop", "web")
    assert "Exit" in stack.ok("ps", "web")
    stack.ok("start", "web")
    until(lambda: "Up" in stack.ok("ps", "web"), 30, "web up again")
    assert until(lambda: page(stack), 30, "web serving") == "hello from compose\n"
    once = stack.ok("run", "--rm", "-T", "db", "cat", "/data/ready")
    assert once.strip()


def test_a_crashed_service_is_restarted(stack):
    name = f"{stack.project}_web_1"

    def inspect(field: str) -> str:
        return stack.platform.docker("inspect", "--format", "{{." + field + "}}", name).stdout

    before = inspect("RestartCount")
    # A crash, not a stop: the service's process dies under it.
    os.kill(int(inspect("State.Pid")), signal.SIGKILL)
    until(lambda: inspect("RestartCount") != before, 30, "the restart policy to bring web back")
    assert until(lambda: _serving(stack), 30, "web serving again")


def _serving(compose: Compose) -> bool:
    try:
        return page(compose) == "hello from compose\n"
    except OSError:
        return False


def test_a_changed_service_is_recreated(stack):
    first = stack.platform.docker("inspect", "--format", "{{.Id}}", f"{stack.project}_web_1")
    stack.ok("up", "-d", "--force-recreate", "web")
    second = stack.platform.docker("inspect", "--format", "{{.Id}}", f"{stack.project}_web_1")
    assert second.stdout != first.stdout
    assert until(lambda: _serving(stack), 30, "the new web serving")


def test_down_v_removes_containers_networks_and_volumes(platform, stack):
    project = stack.project
    stack.ok("down", "-v")
    assert project not in platform.docker("ps", "-a", "--format", "{{.Names}}").stdout
    assert project not in platform.docker("network", "ls", "--format", "{{.Name}}").stdout
    assert project not in platform.docker("volume", "ls", "--format", "{{.Name}}").stdout
