"""The whole platform, started the way `make up` starts it, for the docker CLI and docker-py."""

import os
import secrets
import shutil
from pathlib import Path

import pytest

from dockyard.ephemeral import ephemeral_platform, remove_all_containers


@pytest.fixture(scope="session")
def platform(tmp_path_factory):
    if os.geteuid() != 0 or not shutil.which("crun") or not shutil.which("docker"):
        pytest.skip("needs root, crun and the docker CLI")
    root = tmp_path_factory.mktemp("e2e-root")
    run = Path(os.environ["DOCKYARD_RUN_DIR"]) / f"e2e{secrets.token_hex(2)}"
    services = ("redis", "worker", "agent", "gateway", "web")
    with ephemeral_platform(root, run, services=services) as running:
        try:
            yield running
        finally:
            remove_all_containers(running)
