"""What the kernel lets a default container do: the seccomp allow-list, the pids limit and a
rootfs without devices, each tried as a tenant's process would try it."""

import json
import os
import subprocess
import time

import pytest

from runtime import cgroups
from runtime.containers import lifecycle, mounts, seccomp
from runtime.containers.logs import read_log_chunks

from .probe import (
    ADDR_NO_RANDOMIZE,
    AF_INET,
    AF_INET6,
    AF_UNIX,
    AF_VSOCK,
    CLONE_NEWNET,
    CLONE_NEWNS,
    CLONE_NEWUSER,
    PERSONALITY_QUERY,
    SOCK_DGRAM,
    SOCK_STREAM,
    build_probe,
)

pytestmark = pytest.mark.privileged


@pytest.fixture(scope="module")
def probe(tmp_path_factory):
    return build_probe(tmp_path_factory.mktemp("probe"))


def output(paths, cid) -> str:
    return b"".join(data for _, data in read_log_chunks(paths, cid)).decode()


def run(paths, containers, *args, **kwargs) -> tuple[int, str]:
    cid = containers(*args, start=True, **kwargs)
    state = lifecycle.wait(paths, cid, timeout=30)
    return state.exit_code, output(paths, cid)


def probing(paths, containers, probe, script: str, **kwargs) -> str:
    """Output of `script` run by sh in a container with the probe at /probe."""
    binds = [f"{probe}:/probe:ro", *kwargs.pop("binds", [])]
    code, out = run(paths, containers, "sh", "-c", script, binds=binds, **kwargs)
    assert code == 0, out
    return out


def test_cve_2022_0185_cve_2024_1086_no_new_user_namespace_for_a_default_container(
    runtime_paths, containers, probe
):
    """Both exploits start by making a user namespace, holding every capability in it, and
    reach filesystem contexts or nf_tables from there. No call that makes one passes."""
    flags = CLONE_NEWUSER | CLONE_NEWNET
    out = probing(
        runtime_paths,
        containers,
        probe,
        f"/probe clone {flags}; /probe clone {CLONE_NEWUSER}; /probe unshare {flags}; "
        f"/probe unshare {CLONE_NEWNS}; /probe clone3 {flags}; /probe clone3 0",
    )
    assert out.splitlines() == [
        "clone EPERM",
        "clone EPERM",
        "unshare EPERM",
        "unshare EPERM",
        # clone3's flags are out of a filter's reach: it is refused whole, as "no such call",
        # so that libc falls back to clone.
        "clone3 ENOSYS",
        "clone3 ENOSYS",
    ]
    assert "CapEff" not in out


def test_without_the_filter_the_same_clone_gives_every_capability(runtime_paths, containers, probe):
    """The probe's control: unconfined, the clone goes through and its child holds all."""
    flags = CLONE_NEWUSER | CLONE_NEWNET
    out = probing(runtime_paths, containers, probe, f"/probe clone {flags}", seccomp=False)
    assert out.splitlines()[-1] == "clone ok"
    assert "child CapEff:\t000001ff" in out


def test_cap_sys_admin_lifts_the_namespace_refusals_as_in_docker(runtime_paths, containers, probe):
    out = probing(
        runtime_paths,
        containers,
        probe,
        f"/probe clone {CLONE_NEWNET}; /probe unshare {CLONE_NEWNS}; /probe clone3 0",
        cap_add=["SYS_ADMIN"],
    )
    assert [line for line in out.splitlines() if not line.startswith("child")] == [
        "clone ok",
        "unshare ok",
        "clone3 ok",
    ]


def test_everyday_programs_still_work(runtime_paths, containers, probe):
    script = (
        "ls / >/dev/null && ps >/dev/null && mkdir -p /tmp/a/b && echo hi >/tmp/a/b/f "
        "&& cat /tmp/a/b/f && (echo sub; exit 0) && sleep 0.1 & wait; "
        f"/probe socket {AF_INET} {SOCK_STREAM}; /probe socket {AF_INET6} {SOCK_DGRAM}; "
        f"/probe socket {AF_UNIX} {SOCK_STREAM}; /probe socket {AF_VSOCK} {SOCK_STREAM}; "
        f"/probe personality {PERSONALITY_QUERY}; /probe personality {ADDR_NO_RANDOMIZE}; "
        "/probe clone 0"
    )
    out = probing(runtime_paths, containers, probe, script).splitlines()
    assert out[:2] == ["hi", "sub"]
    assert out[2:] == [
        "socket ok",
        "socket ok",
        "socket ok",
        # AF_VSOCK reaches a hypervisor's host, not the container's network.
        "socket EPERM",
        "personality ok",
        # Turning address randomisation off is refused, as by Docker.
        "personality EPERM",
        "child CapEff:\t00000000a80425fb",
        "clone ok",
    ]


def test_a_custom_profile_is_applied_in_place_of_the_default(runtime_paths, containers):
    profile = json.loads(seccomp.DEFAULT_PROFILE.read_text())
    for rule in profile["syscalls"]:
        rule["names"] = [n for n in rule["names"] if n not in ("mkdir", "mkdirat")]
    code, out = run(
        runtime_paths,
        containers,
        "sh",
        "-c",
        "touch /tmp/made && echo touched; mkdir /tmp/dir",
        seccomp_profile=json.dumps(profile),
    )
    assert code != 0
    assert "touched" in out
    assert "Operation not permitted" in out


def test_a_fork_bomb_stops_at_the_pids_limit_and_the_host_still_forks(runtime_paths, containers):
    cid = containers("sh", "-c", "f() { f | f & }; f; sleep 300", pids_limit=64)
    lifecycle.start(runtime_paths, cid)
    group = cgroups.container_cgroup(cid)
    deadline = time.monotonic() + 20
    while "can't fork" not in output(runtime_paths, cid) and time.monotonic() < deadline:
        time.sleep(0.1)
    try:
        assert "can't fork" in output(runtime_paths, cid)
        assert len(cgroups.pids(group)) <= 64
        # The host's own processes are untouched by it.
        assert subprocess.run(["true"], timeout=10).returncode == 0
    finally:
        lifecycle.remove(runtime_paths, cid, force=True)
    assert not cgroups.exists(group)


def test_a_device_node_made_in_the_rootfs_cannot_be_opened(runtime_paths, containers):
    """CAP_MKNOD is one of Docker's default capabilities, so mknod succeeds; the rootfs is
    mounted nodev, so the node opens nothing. 1:3 is /dev/null, which the devices cgroup
    allows: only nodev stops that one. /dev itself, the OCI spec's, still works."""
    code, out = run(
        runtime_paths,
        containers,
        "sh",
        "-c",
        "exec 2>&1; mknod /tmp/sda b 8 0 && mknod /tmp/null c 1 3 && echo made; "
        "head -c 1 /tmp/sda; echo x >/tmp/null; echo y >/dev/null && echo dev works; "
        "grep ' / / ' /proc/self/mountinfo",
    )
    lines = out.splitlines()
    assert lines[0] == "made"
    assert "head: /tmp/sda: Permission denied" in out
    assert "can't create /tmp/null: Permission denied" in out
    assert "dev works" in lines
    (root,) = [line for line in lines if " / / " in line]
    assert "nodev" in root.split()[5].split(",")


def test_only_a_privileged_containers_rootfs_keeps_its_devices(runtime_paths, containers):
    """Privileged containers are given every device, so their rootfs is mounted with them."""
    plain = runtime_paths.container(containers("true")) / "rootfs"
    privileged = runtime_paths.container(containers("true", privileged=True)) / "rootfs"
    assert os.statvfs(plain).f_flag & os.ST_NODEV
    assert not os.statvfs(privileged).f_flag & os.ST_NODEV


def test_a_rootfs_mounted_again_after_a_reboot_is_still_nodev(runtime_paths, containers):
    cid = containers("true")
    rootfs = runtime_paths.container(cid) / "rootfs"
    assert os.statvfs(rootfs).f_flag & os.ST_NODEV
    mounts.unmount(rootfs)
    lifecycle.remount(runtime_paths, cid)
    assert os.path.ismount(rootfs)
    assert os.statvfs(rootfs).f_flag & os.ST_NODEV
