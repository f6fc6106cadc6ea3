"""docker login / push / pull / search through the engine, against the platform's registry.

alice owns alice/, bob writes to acme/ (alice's team), charlie is an outsider.
"""

import base64
import io
import json
import os
import secrets
import shutil
import subprocess
import tarfile
import urllib.request
from pathlib import Path

import pytest

from dockyard.ephemeral import ephemeral_platform

pytestmark = pytest.mark.e2e

SERVICES = ("redis", "worker", "agent", "web", "gateway")
PASSWORDS = {"alice": "alice-pw-1", "bob": "bob-pw-1", "charlie": "charlie-pw-1"}
SETUP = """
from django.contrib.auth.models import User
from accounts.services import do_add_member, do_create_team
alice = User.objects.create_user("alice", password="alice-pw-1")
bob = User.objects.create_user("bob", password="bob-pw-1")
User.objects.create_user("charlie", password="charlie-pw-1")
do_add_member(do_create_team("acme", alice), bob, "write")
"""


@pytest.fixture(scope="module")
def registry_platform(tmp_path_factory):
    if os.geteuid() != 0 or not shutil.which("crun") or not shutil.which("docker"):
        pytest.skip("needs root, crun and the docker CLI")
    root = tmp_path_factory.mktemp("reg-root")
    run = Path(os.environ["DOCKYARD_RUN_DIR"]) / f"rg{secrets.token_hex(2)}"
    with ephemeral_platform(root, run, services=SERVICES) as platform:
        platform.manage("shell", "-c", SETUP)
        platform.manage("ensure_admin")
        yield platform
        leftovers = platform.docker("ps", "-aq").stdout.split()
        if leftovers:
            platform.docker("rm", "-f", *leftovers)


class Cli:
    """The docker CLI with its own config dir, so each person has their own login."""

    def __init__(self, platform, who: str):
        self.platform = platform
        self.who = who
        self.config = platform.root / f"docker-config-{who}"
        self.registry = f"127.0.0.1:{platform.env['DOCKYARD_PORT']}"

    def __call__(self, *args: str, input: str | None = None, timeout: float = 300):
        env = {**os.environ, "DOCKER_HOST": self.platform.docker_host}
        env["DOCKER_CONFIG"] = str(self.config)
        return subprocess.run(
            ["docker", *args], input=input, capture_output=True, text=True, timeout=timeout,
            env=env,
        )  # fmt: skip

    def login(self):
        done = self("login", self.registry, "-u", self.who, "--password-stdin",
                    input=PASSWORDS[self.who] + "\n")  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done


@pytest.fixture(scope="module")
def alice(registry_platform):
    cli = Cli(registry_platform, "alice")
    cli.login()
    return cli


@pytest.fixture(scope="module")
def bob(registry_platform):
    cli = Cli(registry_platform, "bob")
    cli.login()
    return cli


@pytest.fixture(scope="module")
def charlie(registry_platform):
    cli = Cli(registry_platform, "charlie")
    cli.login()
    return cli


@pytest.fixture(scope="module")
def pushed_app(alice):
    ref = f"{alice.registry}/alice/app:1"
    assert alice("tag", "busybox:latest", ref).returncode == 0
    done = alice("push", ref)
    assert done.returncode == 0, done.stdout + done.stderr
    return ref, done.stdout


def test_it_logs_in_with_the_right_password(alice):
    done = alice("login", alice.registry, "-u", "alice", "--password-stdin",
                 input="alice-pw-1\n")  # fmt: skip
    assert "Login Succeeded" in done.stdout


def test_it_refuses_a_wrong_password(registry_platform):
    cli = Cli(registry_platform, "alice")
    done = cli("login", cli.registry, "-u", "alice", "--password-stdin", input="nope\n")
    assert done.returncode != 0
    assert "unauthorized" in done.stderr.lower() or "incorrect" in done.stderr.lower()


def test_it_pushes_then_pulls_back_and_runs(alice, pushed_app):
    ref, output = pushed_app
    assert "1: digest: sha256:" in output
    assert alice("rmi", ref).returncode == 0
    done = alice("pull", ref)
    assert done.returncode == 0, done.stderr
    assert "Digest: sha256:" in done.stdout
    assert f"Downloaded newer image for {ref}" in done.stdout or "up to date" in done.stdout
    run = alice("run", "--rm", ref, "echo", "pulled-ok")
    assert run.stdout.strip() == "pulled-ok", run.stderr
    inspected = json.loads(alice("image", "inspect", ref).stdout)[0]
    assert any(
        d.startswith(f"{alice.registry}/alice/app@sha256:") for d in inspected["RepoDigests"]
    )


def test_a_second_push_sends_nothing_again(alice, pushed_app):
    ref, _ = pushed_app
    done = alice("push", ref)
    assert done.returncode == 0, done.stderr
    assert "Layer already exists" in done.stdout
    assert "Pushed" not in done.stdout


def test_charlie_cannot_push_to_alice(charlie):
    ref = f"{charlie.registry}/alice/evil:1"
    assert charlie("tag", "busybox:latest", ref).returncode == 0
    done = charlie("push", ref)
    assert done.returncode != 0
    assert "denied" in done.stderr


def test_charlie_cannot_pull_alices_private_repository(charlie, pushed_app):
    ref, _ = pushed_app
    charlie("rmi", ref)
    done = charlie("pull", ref)
    assert done.returncode != 0
    assert "pull access denied" in done.stderr


def test_bob_pushes_to_his_team(bob):
    ref = f"{bob.registry}/acme/tool:2"
    assert bob("tag", "busybox:latest", ref).returncode == 0
    done = bob("push", ref)
    assert done.returncode == 0, done.stdout + done.stderr


def test_search_and_default_registry_after_publishing(registry_platform, alice):
    out = registry_platform.manage("publish_base_images")
    assert "busybox:latest: pushed" in out
    found = alice("search", "busybox")
    assert found.returncode == 0, found.stderr
    assert "busybox" in found.stdout
    assert alice("rmi", "busybox:latest").returncode == 0
    pulled = alice("pull", "busybox")
    assert pulled.returncode == 0, pulled.stderr
    assert "Pull complete" in pulled.stdout
    assert alice("run", "--rm", "busybox", "true").returncode == 0


def test_a_tampered_blob_fails_the_pull_and_leaves_no_image(registry_platform, alice, tmp_path):
    ref = f"{alice.registry}/alice/tamper:1"
    archive = tmp_path / "unique.tar"
    with tarfile.open(archive, "w") as tar:
        data = secrets.token_bytes(4096)
        member = tarfile.TarInfo("unique.bin")
        member.size = len(data)
        tar.addfile(member, io.BytesIO(data))
    assert alice("import", str(archive), ref).returncode == 0
    assert alice("push", ref).returncode == 0
    layer = _manifest(alice, "alice/tamper", "1")["layers"][-1]["digest"]
    blob = registry_platform.root / "registry" / "blobs" / "sha256" / layer.split(":")[1]
    original = blob.read_bytes()
    try:
        blob.write_bytes(original[:-16] + bytes(b ^ 0xFF for b in original[-16:]))
        assert alice("rmi", ref).returncode == 0
        done = alice("pull", ref)
    finally:
        blob.write_bytes(original)
    assert done.returncode != 0
    assert f"filesystem layer verification failed for digest {layer}" in done.stderr
    assert alice("image", "inspect", ref).returncode != 0


def _manifest(cli, repository: str, tag: str) -> dict:
    """Read a manifest straight from the registry (it accepts Basic credentials)."""
    request = urllib.request.Request(
        f"http://{cli.registry}/v2/{repository}/manifests/{tag}",
        headers={
            "Accept": "application/vnd.oci.image.manifest.v1+json",
            "Authorization": "Basic "
            + base64.b64encode(f"{cli.who}:{PASSWORDS[cli.who]}".encode()).decode(),
        },
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())
