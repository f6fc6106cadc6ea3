"""The Docker introduction's commands (the shared acceptance script) against the platform:
the registry steps must pass (login, search, pull, push and pull back)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.test_registry import PASSWORDS, registry_platform  # noqa: F401

pytestmark = pytest.mark.e2e

SCRIPT = Path(__file__).resolve().parents[2] / ".." / "shared" / "acceptance" / "seed_commands.py"
REGISTRY_CHECKS = (
    "docker search busybox",
    "docker pull busybox",
    "docker login 127.0.0.1:",
    "docker push, then pull back and run",
)


@pytest.fixture(scope="module")
def seed_output(registry_platform):  # noqa: F811
    if not SCRIPT.exists():
        pytest.skip(f"the acceptance script is not beside the repository ({SCRIPT.resolve()})")
    registry_platform.manage("publish_base_images")
    env = {
        **os.environ,
        "DOCKER_HOST": registry_platform.docker_host,
        "DOCKER_CONFIG": str(registry_platform.root / "docker-config-seed"),
        "SEED_APT_IMAGE": "",
        "SEED_REGISTRY": f"127.0.0.1:{registry_platform.env['DOCKYARD_PORT']}",
        "SEED_USER": "alice",
        "SEED_PASSWORD": PASSWORDS["alice"],
        "SEED_PUSH_REPO": "alice/seed-check",
    }
    done = subprocess.run(
        [sys.executable, str(SCRIPT)], env=env, capture_output=True, text=True, timeout=1200
    )
    return done.stdout.splitlines()


@pytest.mark.parametrize("label", REGISTRY_CHECKS)
def test_the_registry_steps_pass(seed_output, label):
    lines = [line for line in seed_output if label in line]
    assert lines, f"no check named {label!r} in:\n" + "\n".join(seed_output)
    assert all(line.startswith("PASS") for line in lines), "\n".join(lines)
