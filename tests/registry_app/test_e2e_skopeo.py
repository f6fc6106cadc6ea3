"""Real clients against the registry served by the web process: skopeo pushes and pulls busybox."""

import hashlib
import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

import pytest

from dockyard.ephemeral import self_signed_certificate, tls_web

REPO = Path(__file__).resolve().parents[2]
FIXTURE = (
    Path(__file__).resolve().parents[1] / "runtime" / "images" / "fixtures" / "busybox-oci.tar"
)
NOBODY = 65534
SETUP = """
from django.contrib.auth.models import User
from accounts.services import do_add_member, do_create_team
alice = User.objects.create_user("alice", password="alice-pw-1")
bob = User.objects.create_user("bob", password="bob-pw-1")
User.objects.create_user("charlie", password="charlie-pw-1")
do_add_member(do_create_team("acme", alice), bob, "write")
"""
CREDS = {"alice": "alice:alice-pw-1", "bob": "bob:bob-pw-1", "charlie": "charlie:charlie-pw-1"}

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("skopeo") is None, reason="needs skopeo"),
    pytest.mark.skipif(not FIXTURE.exists(), reason="needs the busybox OCI archive"),
]


@pytest.fixture(scope="module")
def workdir():
    """A scratch dir skopeo can write as an unprivileged user, so it keeps no state in /var."""
    path = Path(tempfile.mkdtemp(prefix="dyreg-e2e-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def registry(workdir):
    key, cert = self_signed_certificate(workdir)
    with tls_web(workdir / "root", key, cert, SETUP) as host:
        yield host


def skopeo(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    home = workdir / "home"
    home.mkdir(exist_ok=True)
    os.chown(home, NOBODY, NOBODY)
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "TMPDIR": str(home),
        "XDG_RUNTIME_DIR": str(home),
    }
    return subprocess.run(
        ["skopeo", "--insecure-policy", *args],
        env=env,
        user=NOBODY,
        group=NOBODY,
        extra_groups=[],
        capture_output=True,
        text=True,
        timeout=180,
    )


def push(workdir, registry, who: str, ref: str) -> subprocess.CompletedProcess:
    return skopeo(
        workdir,
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        CREDS[who],
        f"oci-archive:{FIXTURE}",
        f"docker://{registry}/{ref}",
    )


def pull(workdir, registry, who: str, ref: str, dest: Path) -> subprocess.CompletedProcess:
    dest.mkdir()
    os.chown(dest, NOBODY, NOBODY)
    return skopeo(
        workdir,
        "copy",
        "--src-tls-verify=false",
        "--src-creds",
        CREDS[who],
        f"docker://{registry}/{ref}",
        f"oci:{dest}:pulled",
    )


def blobs_of_archive() -> dict[str, bytes]:
    with tarfile.open(FIXTURE) as tar:
        return {
            Path(m.name).name: tar.extractfile(m).read()
            for m in tar.getmembers()
            if m.isfile() and "blobs/sha256/" in m.name
        }


def test_it_takes_busybox_from_skopeo_and_gives_back_the_same_bytes(workdir, registry):
    pushed = push(workdir, registry, "alice", "alice/busybox:1")
    assert pushed.returncode == 0, pushed.stderr
    dest = workdir / "alice-pull"
    pulled = pull(workdir, registry, "alice", "alice/busybox:1", dest)
    assert pulled.returncode == 0, pulled.stderr
    original = blobs_of_archive()
    got = {p.name: p.read_bytes() for p in (dest / "blobs" / "sha256").iterdir()}
    assert got == original
    for name, data in got.items():
        assert hashlib.sha256(data).hexdigest() == name
    tags = skopeo(
        workdir,
        "list-tags",
        "--tls-verify=false",
        "--creds",
        CREDS["alice"],
        f"docker://{registry}/alice/busybox",
    )
    assert tags.returncode == 0, tags.stderr
    assert '"1"' in tags.stdout


def test_it_lets_bob_push_to_his_team(workdir, registry):
    pushed = push(workdir, registry, "bob", "acme/busybox:1")
    assert pushed.returncode == 0, pushed.stderr
    dest = workdir / "alice-pulls-acme"
    assert pull(workdir, registry, "alice", "acme/busybox:1", dest).returncode == 0


def test_it_refuses_charlie(workdir, registry):
    assert push(workdir, registry, "alice", "alice/busybox:1").returncode == 0
    pushed = push(workdir, registry, "charlie", "alice/busybox:evil")
    assert pushed.returncode != 0
    assert "403" in pushed.stderr or "denied" in pushed.stderr.lower()
    pulled = pull(workdir, registry, "charlie", "alice/busybox:1", workdir / "charlie-pull")
    assert pulled.returncode != 0
    assert "403" in pulled.stderr or "denied" in pulled.stderr.lower()
    anonymous = skopeo(
        workdir,
        "inspect",
        "--tls-verify=false",
        "--no-creds",
        f"docker://{registry}/alice/busybox:1",
    )
    assert anonymous.returncode != 0
