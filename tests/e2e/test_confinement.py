"""A tenant's docker CLI against the confinement of its containers.

The tenant is a user without admin rights with a personal access token, over TCP on the web
port, as a team member would set it up; the administrator uses the engine socket. Every
test is the attack as the tenant would type it.
"""

import json
import os
import subprocess
import time
import uuid

import pytest

from runtime import cgroups
from runtime.containers import seccomp
from tests.runtime.containers.probe import CLONE_NEWNET, CLONE_NEWUSER, build_probe

pytestmark = [pytest.mark.e2e, pytest.mark.privileged]

SETUP = """
from django.contrib.auth.models import User
from accounts.services import do_create_token
user = User.objects.create_user("tenant-{tag}")
print(do_create_token(user, "cli", ["read", "write"])[1])
"""


class Tenant:
    def __init__(self, platform, config_dir) -> None:
        self.platform = platform
        self.host = f"tcp://127.0.0.1:{platform.env['DOCKYARD_PORT']}"
        self.config_dir = config_dir

    def __call__(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        env = {**os.environ, "DOCKER_HOST": self.host, "DOCKER_CONFIG": str(self.config_dir)}
        for name in ("DOCKER_TLS", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH", "DOCKER_CONTEXT"):
            env.pop(name, None)
        return subprocess.run(
            ["docker", *args], capture_output=True, text=True, timeout=timeout, env=env
        )


@pytest.fixture(scope="module")
def tenant(platform, tmp_path_factory) -> Tenant:
    tag = uuid.uuid4().hex[:8]
    token = platform.manage("shell", "-c", SETUP.format(tag=tag)).strip().splitlines()[-1]
    config_dir = tmp_path_factory.mktemp("tenant-docker-config")
    headers = {"HttpHeaders": {"Authorization": f"Bearer {token}"}}
    (config_dir / "config.json").write_text(json.dumps(headers))
    return Tenant(platform, config_dir)


@pytest.fixture(scope="module")
def probe(tmp_path_factory):
    return build_probe(tmp_path_factory.mktemp("probe"))


def name() -> str:
    return f"t{uuid.uuid4().hex[:8]}"


def test_cve_2022_0185_cve_2024_1086_a_tenant_cannot_clone_into_new_namespaces(tenant, probe):
    """The exploits' first step: a user namespace whose root holds every capability, from
    which filesystem contexts and nf_tables are reached. The tenant copies in a program that
    asks for one every way there is."""
    flags = CLONE_NEWUSER | CLONE_NEWNET
    n = name()
    script = f"/probe clone {flags}; /probe unshare {flags}; /probe clone3 {flags}"
    created = tenant("create", "--name", n, "busybox", "sh", "-c", script)
    assert created.returncode == 0, created.stderr
    try:
        copied = tenant("cp", str(probe), f"{n}:/probe")
        assert copied.returncode == 0, copied.stderr
        out = tenant("start", "-a", n)
        assert out.returncode == 0, out.stderr
        assert out.stdout.splitlines() == ["clone EPERM", "unshare EPERM", "clone3 ENOSYS"]
    finally:
        tenant("rm", "-f", n)


def test_a_tenants_fork_bomb_stops_at_the_pids_limit(tenant, platform):
    default = int(platform.env.get("DOCKYARD_DEFAULT_PIDS_LIMIT", 4096))
    read_limit = "cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max"
    limit = tenant("run", "--rm", "busybox", "sh", "-c", read_limit)
    assert limit.stdout.strip() == str(default), limit.stderr
    for asked, refusal in (("-1", "unlimited pids limit"), (str(default + 1), "pids limit above")):
        refused = tenant("run", "--rm", "--pids-limit", asked, "busybox", "true")
        assert refused.returncode != 0 and refusal in refused.stderr

    bomb = "f() { f | f & }; f; sleep 300"
    started = tenant("run", "-d", "--pids-limit", "64", "busybox", "sh", "-c", bomb)
    assert started.returncode == 0, started.stderr
    cid = started.stdout.strip()
    try:
        deadline = time.monotonic() + 30
        while "can't fork" not in tenant("logs", cid).stderr and time.monotonic() < deadline:
            time.sleep(0.2)
        assert "can't fork" in tenant("logs", cid).stderr
        assert len(cgroups.pids(cgroups.container_cgroup(cid))) <= 64
        # Everyone else's containers still start.
        assert tenant("run", "--rm", "busybox", "echo", "alive").stdout == "alive\n"
    finally:
        removed = tenant("rm", "-f", cid, timeout=60)
    assert removed.returncode == 0, removed.stderr
    assert not cgroups.exists(cgroups.container_cgroup(cid))


def test_only_administrators_choose_a_seccomp_profile(tenant, platform, tmp_path):
    profile = json.loads(seccomp.DEFAULT_PROFILE.read_text())
    for rule in profile["syscalls"]:
        rule["names"] = [n for n in rule["names"] if n not in ("mkdir", "mkdirat")]
    path = tmp_path / "no-mkdir.json"
    path.write_text(json.dumps(profile))
    for option, refusal in (
        (f"seccomp={path}", "custom seccomp profiles are for administrators"),
        ("seccomp=unconfined", "seccomp=unconfined is for administrators"),
    ):
        refused = tenant("run", "--rm", "--security-opt", option, "busybox", "true")
        assert refused.returncode != 0 and refusal in refused.stderr

    script = "touch /tmp/file && echo touched && mkdir /tmp/dir"
    confined = platform.docker(
        "run", "--rm", "--security-opt", f"seccomp={path}", "busybox", "sh", "-c", script
    )
    assert confined.returncode != 0
    assert confined.stdout == "touched\n"
    assert "Operation not permitted" in confined.stderr
    assert platform.docker("run", "--rm", "busybox", "sh", "-c", script).returncode == 0


def test_a_tenants_device_node_opens_nothing(tenant):
    """CAP_MKNOD is in Docker's default set, so the node is made; the rootfs is nodev."""
    script = "exec 2>&1; mknod /tmp/sda b 8 0 && echo made; head -c 1 /tmp/sda"
    out = tenant("run", "--rm", "busybox", "sh", "-c", script)
    assert out.stdout.splitlines() == ["made", "head: /tmp/sda: Permission denied"]
