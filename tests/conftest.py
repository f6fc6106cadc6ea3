import os
import shutil
import uuid
from pathlib import Path

import pytest

from runtime.paths import RuntimePaths

# Every Django test has the same three people: alice owns things, bob is her teammate,
# charlie is an outsider who must be refused.
PASSWORD = "pw-secret-1"


def _needs(*tools: str) -> list[str]:
    return [t for t in tools if shutil.which(t) is None]


def pytest_collection_modifyitems(config, items):
    missing = _needs("crun", "conmon")
    for item in items:
        if "privileged" in item.keywords and (os.geteuid() != 0 or missing):
            reason = "needs root" if os.geteuid() != 0 else f"needs {', '.join(missing)}"
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture
def runtime_paths(tmp_path: Path) -> RuntimePaths:
    """A private node root for one test; sockets under the short run dir."""
    run = Path(os.environ["DOCKYARD_RUN_DIR"]) / uuid.uuid4().hex[:8]
    paths = RuntimePaths(root=tmp_path / "root", run=run).ensure()
    yield paths
    shutil.rmtree(run, ignore_errors=True)


@pytest.fixture
def alice(db):
    from django.contrib.auth.models import User

    return User.objects.create_user("alice", password=PASSWORD)


@pytest.fixture
def bob(db):
    from django.contrib.auth.models import User

    return User.objects.create_user("bob", password=PASSWORD)


@pytest.fixture
def charlie(db):
    from django.contrib.auth.models import User

    return User.objects.create_user("charlie", password=PASSWORD)
