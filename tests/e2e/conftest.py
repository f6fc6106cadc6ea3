"""The whole platform, started the way `make up` starts it, for the docker CLI and docker-py."""

import contextlib
import os
import secrets
import shutil
from pathlib import Path

import pytest

from dockyard.ephemeral import ephemeral_platform
from runtime.containers import lifecycle
from runtime.paths import RuntimePaths


@pytest.fixture(scope="session")
def platform(tmp_path_factory):
    if os.geteuid() != 0 or not shutil.which("crun") or not shutil.which("docker"):
        pytest.skip("needs root, crun and the docker CLI")
    root = tmp_path_factory.mktemp("e2e-root")
    run = Path(os.environ["DOCKYARD_RUN_DIR"]) / f"e2e{secrets.token_hex(2)}"
    try:
        with ephemeral_platform(root, run) as running:
            yield running
            leftovers = running.docker("ps", "-aq").stdout.split()
            if leftovers:
                running.docker("rm", "-f", *leftovers)
    finally:
        _remove_everything(RuntimePaths(root=root, run=run))


def _remove_everything(paths: RuntimePaths) -> None:
    """Whatever a failed test left running goes, so the host is as it was."""
    for cid in lifecycle.list_ids(paths):
        with contextlib.suppress(Exception):
            lifecycle.remove(paths, cid, force=True)
