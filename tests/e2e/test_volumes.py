"""Volumes through the docker CLI and docker-py: named, anonymous, `--mount`, `--tmpfs`,
`--volumes-from`, copy-up of an image's directory, labels, filters and prune; and one
user's volumes out of another's sight and reach, over TCP with their own tokens."""

import json
import os
import secrets
import shutil
import subprocess
import uuid
from pathlib import Path

import docker
import pytest

from dockyard.ephemeral import ephemeral_platform, remove_all_containers

pytestmark = [pytest.mark.e2e, pytest.mark.privileged]


def ok(done) -> str:
    assert done.returncode == 0, done.stderr
    return done.stdout


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def test_data_written_in_one_containers_volume_is_seen_by_the_next(platform):
    vol = unique("data")
    try:
        assert ok(platform.docker("volume", "create", "--label", "k=v", vol)) == f"{vol}\n"
        shown = json.loads(ok(platform.docker("volume", "inspect", vol)))[0]
        assert shown["Name"] == vol and shown["Driver"] == "local"
        assert shown["Scope"] == "local" and shown["Labels"] == {"k": "v"}
        assert shown["Mountpoint"].endswith(f"/volumes/{vol}/_data")
        again = platform.docker("volume", "create", vol)
        assert again.returncode == 0, again.stderr
        ok(
            platform.docker(
                "run", "--rm", "-v", f"{vol}:/data", "busybox", "sh", "-c", "echo kept > /data/f"
            )
        )
        out = ok(
            platform.docker("run", "--rm", "-v", f"{vol}:/data:ro", "busybox", "cat", "/data/f")
        )
        assert out == "kept\n"
        refused = platform.docker(
            "run", "--rm", "-v", f"{vol}:/data:ro", "busybox", "touch", "/data/g"
        )
        assert refused.returncode != 0
    finally:
        platform.docker("volume", "rm", vol)
    assert platform.docker("volume", "inspect", vol).returncode != 0


def test_a_volume_in_use_is_not_removed_and_a_name_used_by_run_is_created(platform):
    vol, c = unique("first"), unique("c")
    try:
        ok(platform.docker("create", "--name", c, "-v", f"{vol}:/x", "busybox", "true"))
        assert vol in ok(platform.docker("volume", "ls", "-q")).split()
        refused = platform.docker("volume", "rm", vol)
        assert refused.returncode != 0 and "volume is in use" in refused.stderr
        mounts = json.loads(ok(platform.docker("inspect", c)))[0]["Mounts"]
        assert [(m["Type"], m["Name"], m["Destination"]) for m in mounts] == [("volume", vol, "/x")]
    finally:
        platform.docker("rm", "-f", c)
        platform.docker("volume", "rm", vol)


def test_anonymous_volumes_go_with_rm_v(platform):
    c = unique("anon")
    ok(platform.docker("create", "--name", c, "-v", "/scratch", "busybox", "true"))
    mounts = json.loads(ok(platform.docker("inspect", c)))[0]["Mounts"]
    assert len(mounts) == 1 and mounts[0]["Destination"] == "/scratch"
    name = mounts[0]["Name"]
    assert len(name) == 64
    assert name in ok(platform.docker("volume", "ls", "-q")).split()
    ok(platform.docker("rm", "-v", c))
    assert name not in ok(platform.docker("volume", "ls", "-q")).split()


def test_an_images_directory_is_copied_into_a_new_volume_unless_nocopy(platform):
    tag = unique("copyup") + ":1"
    dockerfile = (
        "FROM busybox\nRUN mkdir -p /seed/sub && echo hello > /seed/sub/greeting "
        "&& chown -R 1000:1000 /seed\nVOLUME /seed\n"
    )
    ok(platform.docker("build", "-t", tag, "-", input=dockerfile, timeout=300))
    vol, empty = unique("seeded"), unique("nocopy")
    try:
        out = ok(
            platform.docker(
                "run",
                "--rm",
                "-v",
                f"{vol}:/seed",
                tag,
                "sh",
                "-c",
                "cat /seed/sub/greeting; stat -c %u /seed/sub/greeting",
            )
        )
        assert out == "hello\n1000\n"
        # The image's VOLUME alone gives an anonymous volume with the same content.
        out = ok(platform.docker("run", "--rm", tag, "cat", "/seed/sub/greeting"))
        assert out == "hello\n"
        out = ok(
            platform.docker(
                "run",
                "--rm",
                "--mount",
                f"type=volume,source={empty},target=/seed,volume-nocopy",
                tag,
                "ls",
                "-A",
                "/seed",
            )
        )
        assert out == ""
    finally:
        platform.docker("volume", "rm", vol, empty)
        platform.docker("rmi", tag)


def test_volumes_from_and_tmpfs(platform):
    holder, vol = unique("holder"), unique("shared")
    try:
        ok(
            platform.docker(
                "run",
                "--name",
                holder,
                "-v",
                f"{vol}:/shared",
                "busybox",
                "sh",
                "-c",
                "echo from-holder > /shared/f",
            )
        )
        out = ok(
            platform.docker(
                "run",
                "--rm",
                "--volumes-from",
                f"{holder}:ro",
                "busybox",
                "sh",
                "-c",
                "cat /shared/f; touch /shared/g || echo ro",
            )
        )
        assert out == "from-holder\nro\n"
        out = ok(
            platform.docker(
                "run",
                "--rm",
                "--tmpfs",
                "/scratch:size=1m",
                "busybox",
                "sh",
                "-c",
                "grep ' /scratch ' /proc/mounts",
            )
        )
        assert out.startswith("tmpfs /scratch tmpfs")
        out = ok(
            platform.docker(
                "run",
                "--rm",
                "--mount",
                "type=tmpfs,target=/t",
                "busybox",
                "sh",
                "-c",
                "grep -c ' /t tmpfs' /proc/mounts",
            )
        )
        assert out == "1\n"
    finally:
        platform.docker("rm", "-f", holder)
        platform.docker("volume", "rm", vol)


def test_labels_filters_and_prune_with_docker_py(platform):
    client = docker.DockerClient(base_url=platform.docker_host, version="auto")
    keep, loose = unique("keep"), unique("loose")
    try:
        client.volumes.create(keep, labels={"team": "a"})
        client.volumes.create(loose, labels={"team": "b"})
        names = {v.name for v in client.volumes.list(filters={"label": "team=a"})}
        assert keep in names and loose not in names
        assert {v.name for v in client.volumes.list(filters={"name": loose})} == {loose}
        assert keep in {v.name for v in client.volumes.list(filters={"dangling": True})}
        with pytest.raises(docker.errors.APIError) as clash:
            client.api.create_volume(keep, driver="nosuch")
        assert clash.value.status_code == 404
        # Named volumes stay unless prune is asked for all of them (Docker since API 1.42).
        pruned = client.volumes.prune(filters={"label": "team=b"})
        assert loose not in (pruned["VolumesDeleted"] or [])
        pruned = client.volumes.prune(filters={"label": "team=b", "all": "true"})
        assert pruned["VolumesDeleted"] == [loose]
        assert keep in {v.name for v in client.volumes.list()}
        df = json.loads(ok(platform.docker("system", "df", "-v", "--format", "json")))
        assert keep in {v["Name"] for v in df["Volumes"] or []}
    finally:
        for name in (keep, loose):
            try:
                client.volumes.get(name).remove()
            except docker.errors.NotFound:
                pass
        client.close()


TENANTS = """
from django.contrib.auth.models import User
from accounts.services import do_create_token
for name in ("alice", "mallory"):
    user = User.objects.create_user(name)
    print("token", name, do_create_token(user, "cli", ["read", "write"])[1])
"""


@pytest.fixture(scope="module")
def tenants(tmp_path_factory):
    """alice's and mallory's docker CLIs on the web port, each with a personal token."""
    if os.geteuid() != 0 or not shutil.which("crun") or not shutil.which("docker"):
        pytest.skip("needs root, crun and the docker CLI")
    root = tmp_path_factory.mktemp("volume-tenants")
    run = Path(os.environ["DOCKYARD_RUN_DIR"]) / f"vt{secrets.token_hex(2)}"
    services = ("redis", "worker", "agent", "web", "gateway")
    with ephemeral_platform(root, run, services=services) as node:
        people = {}
        for line in node.manage("shell", "-c", TENANTS).splitlines():
            if line.startswith("token "):
                _, name, token = line.split()
                config = root / f"docker-config-{name}"
                config.mkdir()
                headers = {"HttpHeaders": {"Authorization": f"Bearer {token}"}}
                (config / "config.json").write_text(json.dumps(headers))
                people[name] = _Cli(f"tcp://127.0.0.1:{node.env['DOCKYARD_PORT']}", config)
        people["admin"] = node.docker
        try:
            yield people
        finally:
            remove_all_containers(node)


class _Cli:
    def __init__(self, host: str, config: Path) -> None:
        self.env = {**os.environ, "DOCKER_HOST": host, "DOCKER_CONFIG": str(config)}
        for name in ("DOCKER_TLS", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH", "DOCKER_CONTEXT"):
            self.env.pop(name, None)

    def __call__(self, *args: str, input: str | None = None, timeout: float = 120):
        return subprocess.run(
            ["docker", *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self.env,
        )


def test_another_user_can_neither_see_nor_mount_your_volume(tenants):
    alice, mallory, admin = tenants["alice"], tenants["mallory"], tenants["admin"]
    ok(alice("volume", "create", "diary"))
    ok(alice("run", "--rm", "-v", "diary:/d", "busybox", "sh", "-c", "echo secret > /d/page"))
    assert "diary" not in mallory("volume", "ls", "-q").stdout.split()
    for attempt in (mallory("volume", "inspect", "diary"), mallory("volume", "rm", "diary")):
        assert attempt.returncode != 0
        assert "get diary: no such volume" in attempt.stderr
    for mount in ("diary:/d", "type=volume,source=diary,target=/d"):
        flag = "-v" if ":" in mount else "--mount"
        stolen = mallory("run", "--rm", flag, mount, "busybox", "cat", "/d/page")
        assert stolen.returncode != 0 and "secret" not in stolen.stdout
    # A container of alice's is no way in either.
    ok(alice("create", "--name", "diary-holder", "-v", "diary:/d", "busybox", "true"))
    borrowed = mallory("run", "--rm", "--volumes-from", "diary-holder", "busybox", "cat", "/d/page")
    assert borrowed.returncode != 0 and "secret" not in borrowed.stdout
    # Host paths stay the administrator's, by -v and by --mount alike.
    for args in (["-v", "/etc:/h"], ["--mount", "type=bind,source=/etc,target=/h"]):
        refused = mallory("run", "--rm", *args, "busybox", "true")
        assert refused.returncode != 0 and "for administrators" in refused.stderr
    pruned = mallory("volume", "prune", "-a", "-f")
    assert pruned.returncode == 0, pruned.stderr
    assert "diary" in admin("volume", "ls", "-q").stdout.split()
    assert ok(alice("run", "--rm", "-v", "diary:/d", "busybox", "cat", "/d/page")) == "secret\n"
