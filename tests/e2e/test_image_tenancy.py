"""mallory's docker CLI, on the web port with her personal access token, against other
users' images on the node they share.

She builds, tags, loads and imports over the shared `busybox` that the admin (the unix
socket) runs next; she reads, runs, builds from, saves, tags and removes alice's private
image; she lists the node's disk usage and the default bridge. Each is refused, the admin's
busybox has no /POISON, and alice's image is as she built it. bob, alice's teammate with the
write role, runs the team's image; charlie, an outsider, cannot.
"""

import io
import json
import os
import secrets
import shutil
import subprocess
import tarfile
import uuid
from pathlib import Path

import pytest

from dockyard.ephemeral import ephemeral_platform, remove_all_containers

pytestmark = [pytest.mark.e2e, pytest.mark.privileged]

SETUP = """
from django.contrib.auth.models import User
from accounts.services import do_add_member, do_create_team, do_create_token
people = {name: User.objects.create_user(name) for name in ("mallory", "alice", "bob", "charlie")}
do_add_member(do_create_team("acme", people["alice"]), people["bob"], "write")
for name, user in people.items():
    print("token", name, do_create_token(user, "cli", ["read", "write"])[1])
"""
POISON = "FROM busybox\nRUN echo mallory>/POISON\n"


class Cli:
    """One person's docker CLI: DOCKER_HOST on the web port, their token in HttpHeaders."""

    def __init__(self, host: str, config: Path) -> None:
        self.env = {**os.environ, "DOCKER_HOST": host, "DOCKER_CONFIG": str(config)}
        for name in ("DOCKER_TLS", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH", "DOCKER_CONTEXT"):
            self.env.pop(name, None)

    def __call__(self, *args: str, input: str | bytes | None = None, timeout: float = 180):
        return subprocess.run(
            ["docker", *args],
            input=input,
            capture_output=True,
            text=not isinstance(input, bytes),
            timeout=timeout,
            env=self.env,
        )


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    if os.geteuid() != 0 or not shutil.which("crun") or not shutil.which("docker"):
        pytest.skip("needs root, crun and the docker CLI")
    root = tmp_path_factory.mktemp("tenancy-root")
    run = Path(os.environ["DOCKYARD_RUN_DIR"]) / f"tn{secrets.token_hex(2)}"
    services = ("redis", "worker", "agent", "web", "gateway")
    with ephemeral_platform(root, run, services=services) as platform:
        platform.people = {}
        lines = platform.manage("shell", "-c", SETUP).splitlines()
        for _, name, token in (x.split() for x in lines if x.startswith("token ")):
            config = root / f"docker-config-{name}"
            config.mkdir()
            headers = {"HttpHeaders": {"Authorization": f"Bearer {token}"}}
            (config / "config.json").write_text(json.dumps(headers))
            host = f"tcp://127.0.0.1:{platform.env['DOCKYARD_PORT']}"
            platform.people[name] = Cli(host, config)
        try:
            yield platform
        finally:
            remove_all_containers(platform)


@pytest.fixture(scope="module")
def mallory(node) -> Cli:
    return node.people["mallory"]


@pytest.fixture(scope="module")
def alice(node) -> Cli:
    return node.people["alice"]


@pytest.fixture(scope="module")
def secret(alice) -> str:
    """alice's private image: its id."""
    built = alice("build", "-t", "alice/secret:1", "-", input="FROM busybox\nRUN echo s3cr3t >/s\n")
    assert built.returncode == 0, built.stderr
    return alice("image", "inspect", "-f", "{{.Id}}", "alice/secret:1").stdout.strip()


def busybox_id(node) -> str:
    return node.docker("image", "inspect", "-f", "{{.Id}}", "busybox:latest").stdout.strip()


def assert_admins_busybox_is_clean(node, before: str) -> None:
    assert busybox_id(node) == before
    poisoned = node.docker("run", "--rm", "busybox", "cat", "/POISON")
    assert poisoned.returncode != 0 and "mallory" not in poisoned.stdout
    assert node.docker("run", "--rm", "busybox", "echo", "clean").stdout == "clean\n"


def test_mallory_cannot_build_tag_load_or_import_over_busybox(node, mallory, tmp_path):
    before = busybox_id(node)
    refused = mallory("build", "-t", "busybox:latest", "-", input=POISON)
    assert refused.returncode != 0
    assert "library namespace, which only administrators may change" in refused.stderr
    # The same build under her own name is hers to make.
    built = mallory("build", "-t", "mallory/poison", "-", input=POISON)
    assert built.returncode == 0, built.stderr
    for target in ("busybox", "busybox:latest", "library/busybox", "debian:bookworm"):
        tagged = mallory("tag", "mallory/poison", target)
        assert tagged.returncode != 0 and "only administrators" in tagged.stderr, target
    saved = tmp_path / "poison.tar"
    assert mallory("save", "-o", str(saved), "mallory/poison").returncode == 0
    relabelled = tmp_path / "relabelled.tar"
    with tarfile.open(saved) as source, tarfile.open(relabelled, "w") as out:
        for member in source:
            data = source.extractfile(member).read() if member.isreg() else None
            if member.name == "manifest.json":
                manifest = json.loads(data)
                manifest[0]["RepoTags"] = ["busybox:latest"]
                data = json.dumps(manifest).encode()
                member.size = len(data)
            out.addfile(member, io.BytesIO(data) if data is not None else None)
    loaded = mallory("load", "-i", str(relabelled))
    assert loaded.returncode != 0 and "library namespace" in loaded.stderr
    rootfs = tmp_path / "rootfs.tar"
    with tarfile.open(rootfs, "w") as out:
        info = tarfile.TarInfo("POISON")
        info.size = 8
        out.addfile(info, io.BytesIO(b"mallory\n"))
    imported = mallory("import", str(rootfs), "busybox:latest")
    assert imported.returncode != 0 and "library namespace" in imported.stderr
    for args in (("rmi", "busybox"), ("rmi", "-f", before)):
        removed = mallory(*args)
        assert removed.returncode != 0 and "read-only" in removed.stderr
    assert_admins_busybox_is_clean(node, before)


def test_alices_private_image_is_no_image_to_mallory(node, mallory, secret, tmp_path):
    listed = mallory("images", "--no-trunc", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}")
    assert listed.returncode == 0, listed.stderr
    assert "alice/secret" not in listed.stdout and secret not in listed.stdout
    for ref in ("alice/secret:1", secret, secret[7:19]):
        for args in (
            ("image", "inspect", ref),
            ("history", ref),
            ("save", "-o", str(tmp_path / "stolen.tar"), ref),
            ("tag", ref, "mallory/stolen"),
            ("rmi", ref),
            ("create", ref),
        ):
            done = mallory(*args)
            assert done.returncode != 0, args
            # The create's 404 makes the CLI print "Unable to find image" and try a pull.
            missing = ("No such image", "Unable to find image")
            assert any(m in done.stderr for m in missing), (args, done.stderr)
    ran = mallory("run", "-d", "alice/secret:1", "cat", "/s")
    assert ran.returncode != 0 and "pull access denied" in ran.stderr
    pushed = mallory("push", "alice/secret:1")
    assert pushed.returncode != 0 and "does not exist locally" in pushed.stderr
    for base in ("alice/secret:1", secret):
        built = mallory("build", "-t", "mallory/copy", "-", input=f"FROM {base}\nCMD cat /s\n")
        assert built.returncode != 0 and "no such image on this node" in built.stdout + built.stderr
    copied = mallory("build", "-", input="FROM busybox\nCOPY --from=alice/secret:1 /s /s\n")
    assert copied.returncode != 0 and "no such stage or image" in copied.stdout + copied.stderr
    # alice's image is as she built it.
    shown = node.docker("run", "--rm", "alice/secret:1", "cat", "/s")
    assert shown.stdout == "s3cr3t\n", shown.stderr
    assert (
        node.docker("image", "inspect", "-f", "{{.Id}}", "alice/secret:1").stdout.strip() == secret
    )


def test_disk_usage_and_the_bridge_show_mallory_only_her_containers(node, mallory, alice):
    name = f"alices-{uuid.uuid4().hex[:6]}"
    started = alice("run", "-d", "--name", name, "busybox", "sleep", "300")
    assert started.returncode == 0, started.stderr
    try:
        usage = mallory("system", "df", "-v")
        assert usage.returncode == 0, usage.stderr
        assert name not in usage.stdout and "alice/secret" not in usage.stdout
        bridge = mallory("network", "inspect", "bridge")
        assert bridge.returncode == 0, bridge.stderr
        assert json.loads(bridge.stdout)[0]["Containers"] == {}
        assert name in node.docker("system", "df", "-v").stdout
        admins_view = json.loads(node.docker("network", "inspect", "bridge").stdout)[0]
        assert name in {c["Name"] for c in admins_view["Containers"].values()}
    finally:
        alice("rm", "-f", name)


def test_bob_runs_the_teams_image_and_charlie_cannot(node, alice):
    built = alice("build", "-t", "acme/app:1", "-", input="FROM busybox\nRUN echo team >/t\n")
    assert built.returncode == 0, built.stderr
    bob, charlie = node.people["bob"], node.people["charlie"]
    name = f"bobs-{uuid.uuid4().hex[:6]}"
    started = bob("run", "-d", "--name", name, "acme/app:1", "cat", "/t")
    assert started.returncode == 0, started.stderr
    try:
        assert bob("wait", name).stdout.strip() == "0"
        assert bob("logs", name).stdout == "team\n"
    finally:
        bob("rm", "-f", name)
    assert bob("tag", "acme/app:1", "acme/app:bobs").returncode == 0
    for args in (("image", "inspect", "acme/app:1"), ("run", "-d", "acme/app:1", "true")):
        refused = charlie(*args)
        assert refused.returncode != 0, args
        assert "No such image" in refused.stderr or "pull access denied" in refused.stderr
    assert "acme/app" not in charlie("images").stdout
