"""Containers outlive every Dockyard process, and the agent catches up after a restart."""

import os
import secrets
import time
from pathlib import Path

import pytest

from dockyard.ephemeral import ephemeral_platform, remove_all_containers

pytestmark = [pytest.mark.e2e, pytest.mark.privileged]


def test_containers_outlive_a_platform_restart(tmp_path):
    root = tmp_path / "root"
    run = Path(os.environ["DOCKYARD_RUN_DIR"]) / f"sv{secrets.token_hex(2)}"
    with ephemeral_platform(root, run) as platform:
        started = platform.docker(
            "run", "-d", "--name", "survivor", "busybox", "sh", "-c", "echo before; sleep 300"
        )
        assert started.returncode == 0, started.stderr
        platform.docker("run", "-d", "--name", "quitter", "busybox", "sh", "-c", "sleep 2; exit 3")
    # Every Dockyard process is gone now; the quitter exits while nobody watches.
    time.sleep(4)
    with ephemeral_platform(root, run, images=()) as platform:
        try:
            listed = platform.docker("ps", "-a", "--format", "{{.Names}} {{.Status}}").stdout
            assert "survivor Up" in listed
            assert "quitter Exited (3)" in listed
            assert platform.docker("logs", "survivor").stdout == "before\n"
            assert (
                platform.docker("exec", "survivor", "echo", "still here").stdout == "still here\n"
            )
            assert platform.docker("stop", "-t", "1", "survivor").returncode == 0
            removed = platform.docker("rm", "survivor", "quitter")
            assert removed.returncode == 0, removed.stderr
        finally:
            remove_all_containers(platform)
