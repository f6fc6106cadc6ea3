"""podman pulls from the registry served by the web process what skopeo pushed into it."""

import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

import pytest

from tests.registry_app.test_e2e_skopeo import (  # noqa: F401 (fixtures)
    CREDS,
    FIXTURE,
    push,
    registry,
    workdir,
)

PRIVATE_RUN = 'mount -t tmpfs tmpfs /run && mount -t tmpfs tmpfs /var/lib && exec "$@"'

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.privileged,
    pytest.mark.skipif(shutil.which("podman") is None, reason="needs podman (Debian: podman)"),
    pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare (util-linux)"),
    pytest.mark.skipif(shutil.which("skopeo") is None, reason="pushes with skopeo"),
    pytest.mark.skipif(not FIXTURE.exists(), reason="needs the busybox OCI archive"),
    pytest.mark.skipif(os.geteuid() != 0, reason="podman's storage needs root here"),
]


def podman(store: Path, *args: str) -> subprocess.CompletedProcess:
    """podman with storage, run state, config and credentials all under `store`."""
    (store / "registries.conf").write_text("unqualified-search-registries = []\n")
    (store / "containers.conf").write_text('[engine]\nevents_logger = "none"\n')
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(store),
        "XDG_RUNTIME_DIR": str(store),
        "CONTAINERS_CONF": str(store / "containers.conf"),
        "CONTAINERS_REGISTRIES_CONF": str(store / "registries.conf"),
    }
    flags = [
        *("--root", str(store / "root"), "--runroot", str(store / "run")),
        *("--tmpdir", str(store / "tmp"), "--network-config-dir", str(store / "net")),
        *("--cgroup-manager", "cgroupfs", "--events-backend", "none"),
    ]
    # Tmpfs on /run and /var/lib in a mount namespace of its own keep off the host what
    # podman writes there whatever the flags: netavark's run dir, the blob-info cache.
    private_run = ["unshare", "--mount", "--propagation", "private", "sh", "-c", PRIVATE_RUN]
    return subprocess.run(
        [*private_run, "sh", "podman", *flags, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


@pytest.fixture
def store():
    # Short on purpose: podman refuses a runroot path longer than 50 characters.
    path = Path(tempfile.mkdtemp(prefix="dypm-", dir="/tmp"))
    yield path
    podman(path, "system", "reset", "--force")
    shutil.rmtree(path, ignore_errors=True)


def archive_manifest_digest() -> str:
    with tarfile.open(FIXTURE) as tar:
        index = json.load(tar.extractfile("index.json"))
    return index["manifests"][0]["digest"]


def test_it_gives_podman_the_image_skopeo_pushed(workdir, registry, store):  # noqa: F811
    assert push(workdir, registry, "alice", "alice/busybox:podman").returncode == 0
    ref = f"{registry}/alice/busybox:podman"
    pulled = podman(store, "pull", "--tls-verify=false", "--creds", CREDS["alice"], ref)
    assert pulled.returncode == 0, pulled.stderr
    inspected = podman(store, "image", "inspect", ref)
    assert inspected.returncode == 0, inspected.stderr
    image = json.loads(inspected.stdout)[0]
    assert image["Digest"] == archive_manifest_digest()
    assert ref in image["RepoTags"]
    assert image["Os"] == "linux"


def test_it_refuses_podman_pulls_from_charlie_and_strangers(workdir, registry, store):  # noqa: F811
    assert push(workdir, registry, "alice", "alice/busybox:private").returncode == 0
    ref = f"{registry}/alice/busybox:private"
    charlie = podman(store, "pull", "--tls-verify=false", "--creds", CREDS["charlie"], ref)
    assert charlie.returncode != 0
    assert "denied" in charlie.stderr.lower() or "unauthorized" in charlie.stderr.lower()
    anonymous = podman(store, "pull", "--tls-verify=false", ref)
    assert anonymous.returncode != 0
    listed = podman(store, "images", "--quiet")
    assert listed.stdout.strip() == ""
