"""docker-compose.dev.yml as Debian's docker-compose 1.29 reads it: no daemon involved."""

import shutil
import subprocess
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parent.parent
COMPOSE = ["docker-compose", "-p", "dydevtest", "-f", str(SOURCE / "docker-compose.dev.yml")]

pytestmark = pytest.mark.skipif(
    shutil.which("docker-compose") is None, reason="Debian's docker-compose is not installed"
)


def config(*args: str, **env: str) -> str:
    done = subprocess.run(
        [*COMPOSE, "config", *args],
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_it_is_valid_for_compose_1_29_with_every_process_a_service():
    services = set(config("--services").split())
    assert services == {"postgres", "redis", "web", "worker", "agent", "gateway"}


def test_it_needs_no_image_from_docker_hub_but_its_base():
    text = config()
    images = {line.split(":", 1)[1].strip() for line in text.splitlines() if "image:" in line}
    assert images == {"dockyard-dev"}
    assert "FROM debian:bookworm" in (SOURCE / "Dockerfile").read_text()


def test_it_takes_the_state_dir_run_dir_and_port_from_the_environment():
    text = config(
        DOCKYARD_DEV_STATE_DIR="/tmp/dydev-state",
        DOCKYARD_DEV_RUN_DIR="/tmp/dydev-elsewhere",
        DOCKYARD_DEV_PORT="18123",
    )
    assert "/tmp/dydev-elsewhere:/run/dockyard" in text
    assert "/run/dockyard:/run/dockyard" not in text
    assert "/tmp/dydev-state:/var/lib/dockyard" in text
    assert "source: /tmp/dydev-state" in text
    assert "DOCKYARD_PORT: '18123'" in text
    assert "published: 18123" in text or "127.0.0.1:18123:18123" in text


def test_its_builds_use_the_host_network():
    text = config()
    assert text.count("network: host") == text.count("build:") > 0
