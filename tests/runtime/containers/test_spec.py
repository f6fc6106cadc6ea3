import resource

import pytest

from runtime.containers.spec import (
    DEFAULT_CAPS,
    ContainerSpec,
    Ulimit,
    build_oci_config,
    linked_env,
    resolve_user,
    signal_number,
)
from runtime.errors import InvalidInput


@pytest.fixture
def rootfs(tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "passwd").write_text(
        "root:x:0:0:root:/root:/bin/sh\napp:x:1234:2345:app:/home/app:/bin/sh\n"
    )
    (tmp_path / "etc" / "group").write_text("root:x:0:\nappgrp:x:2345:\nextra:x:3456:app\n")
    return tmp_path


def config(rootfs, **kwargs):
    return build_oci_config(ContainerSpec(args=["sh"], **kwargs), rootfs, "/dockyard/c1")


def namespaces(conf):
    return {ns["type"]: ns.get("path") for ns in conf["linux"]["namespaces"]}


def test_default_config_isolates_like_docker(rootfs):
    conf = config(rootfs, hostname="web")
    assert namespaces(conf) == dict.fromkeys(["pid", "ipc", "uts", "mount", "network"])
    assert conf["hostname"] == "web"
    assert conf["process"]["noNewPrivileges"] is True
    assert conf["process"]["capabilities"]["bounding"] == DEFAULT_CAPS
    assert "CAP_SYS_ADMIN" not in conf["process"]["capabilities"]["effective"]
    assert "/proc/kcore" in conf["linux"]["maskedPaths"]
    assert "/proc/sys" in conf["linux"]["readonlyPaths"]
    destinations = [m["destination"] for m in conf["mounts"]]
    for d in ("/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys"):
        assert d in destinations
    assert conf["linux"]["cgroupsPath"] == "/dockyard/c1"
    assert conf["process"]["env"][0].startswith("PATH=")
    assert "HOSTNAME=web" in conf["process"]["env"]


def test_network_namespace_choices(rootfs):
    assert namespaces(config(rootfs, network_ns="/run/netns/x"))["network"] == "/run/netns/x"
    assert "network" not in namespaces(config(rootfs, network_ns="host"))


def test_user_is_resolved_in_the_container_files(rootfs):
    user = config(rootfs, user="app")["process"]["user"]
    assert user == {"uid": 1234, "gid": 2345, "additionalGids": [3456]}
    assert config(rootfs, user="app")["process"]["env"][-1] == "HOME=/home/app"
    assert config(rootfs, user="1234:0")["process"]["user"]["gid"] == 0
    assert config(rootfs, user="4000")["process"]["user"] == {
        "uid": 4000,
        "gid": 0,
        "additionalGids": [],
    }
    assert resolve_user(rootfs, "app:extra").gid == 3456
    with pytest.raises(InvalidInput):
        config(rootfs, user="nosuchuser")


def test_group_add_takes_names_from_the_container_files_and_numbers_as_they_are(rootfs):
    user = config(rootfs, user="app", group_add=["appgrp", "extra", "4242"])["process"]["user"]
    assert user == {"uid": 1234, "gid": 2345, "additionalGids": [3456, 2345, 4242]}
    with pytest.raises(InvalidInput, match="unable to find group nosuch"):
        config(rootfs, group_add=["nosuch"])
    with pytest.raises(InvalidInput):
        config(rootfs, group_add=[str(2**32)])


def test_passwd_symlink_is_not_followed(rootfs):
    (rootfs / "etc" / "passwd").unlink()
    (rootfs / "etc" / "passwd").symlink_to("/etc/passwd")
    with pytest.raises(InvalidInput):
        config(rootfs, user="root")


def test_resources(rootfs):
    res = config(rootfs, memory=64 << 20, cpu_shares=512, nano_cpus=1_500_000_000, pids_limit=100)[
        "linux"
    ]["resources"]
    assert res["memory"] == {"limit": 64 << 20, "swap": 128 << 20}
    assert res["cpu"] == {"shares": 512, "period": 100_000, "quota": 150_000}
    assert res["pids"] == {"limit": 100}
    no_swap = build_oci_config(
        ContainerSpec(args=["sh"], memory=64 << 20), rootfs, "/x", swap_accounting=False
    )
    assert no_swap["linux"]["resources"]["memory"] == {"limit": 64 << 20}


def test_rlimits_never_exceed_the_host_hard_limit(rootfs):
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    conf = config(rootfs, ulimits=[Ulimit("nofile", 10**9, 10**9), Ulimit("nproc", 50, 100)])
    limits = {r["type"]: r for r in conf["process"]["rlimits"]}
    assert limits["RLIMIT_NOFILE"]["hard"] <= hard
    assert limits["RLIMIT_NOFILE"]["soft"] <= limits["RLIMIT_NOFILE"]["hard"]
    assert limits["RLIMIT_NPROC"] == {"type": "RLIMIT_NPROC", "soft": 50, "hard": 100}
    with pytest.raises(InvalidInput):
        config(rootfs, ulimits=[Ulimit("bogus", 1, 1)])


def test_privileged_and_capabilities(rootfs):
    priv = config(rootfs, privileged=True)
    assert "CAP_SYS_ADMIN" in priv["process"]["capabilities"]["bounding"]
    assert "maskedPaths" not in priv["linux"]
    assert priv["process"]["noNewPrivileges"] is False
    caps = config(rootfs, cap_add=["NET_ADMIN"], cap_drop=["chown"])["process"]["capabilities"]
    assert "CAP_NET_ADMIN" in caps["bounding"] and "CAP_CHOWN" not in caps["bounding"]
    with pytest.raises(InvalidInput):
        config(rootfs, cap_add=["NOT_A_CAP"])


def test_binds_tmpfs_and_readonly_rootfs(rootfs):
    conf = config(
        rootfs, binds=["/srv/data:/data:ro"], tmpfs={"/run": "size=1m"}, readonly_rootfs=True
    )
    by_dst = {m["destination"]: m for m in conf["mounts"]}
    assert by_dst["/data"]["source"] == "/srv/data" and "ro" in by_dst["/data"]["options"]
    assert "size=1m" in by_dst["/run"]["options"]
    assert conf["root"]["readonly"] is True
    with pytest.raises(InvalidInput):
        config(rootfs, binds=["relative:/data"])


def test_tty_and_empty_command(rootfs):
    conf = config(rootfs, tty=True)
    assert conf["process"]["terminal"] is True and "TERM=xterm" in conf["process"]["env"]
    with pytest.raises(InvalidInput):
        build_oci_config(ContainerSpec(args=[]), rootfs, "/x")


def test_signal_names():
    assert signal_number("SIGTERM") == 15
    assert signal_number("kill") == 9
    assert signal_number("10") == 10
    with pytest.raises(InvalidInput):
        signal_number("SIGNOPE")


def test_spec_round_trips_through_dict():
    spec = ContainerSpec(args=["a"], ulimits=[Ulimit("nofile", 1, 2)], tmpfs={"/t": ""})
    assert ContainerSpec.from_dict(spec.to_dict()) == spec


def test_specs_written_before_log_rotation_keep_their_whole_log():
    old = ContainerSpec(args=["a"]).to_dict()
    del old["log_driver"], old["log_max_files"]
    old["log_max_size"] = 10 * 1024 * 1024
    spec = ContainerSpec.from_dict(old)
    assert (spec.log_driver, spec.log_max_size, spec.log_max_files) == ("k8s-file", 0, 1)
    rotated = ContainerSpec(args=["a"], log_max_size=1000, log_max_files=3)
    assert ContainerSpec.from_dict(rotated.to_dict()) == rotated


def test_seccomp_default_custom_or_none(rootfs):
    default = config(rootfs)["linux"]["seccomp"]
    assert default["defaultAction"] == "SCMP_ACT_ERRNO"
    custom = '{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": []}'
    assert config(rootfs, seccomp_profile=custom)["linux"]["seccomp"] == {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [],
    }
    assert "seccomp" not in config(rootfs, seccomp=False)["linux"]
    assert "seccomp" not in config(rootfs, privileged=True, seccomp_profile=custom)["linux"]
    with pytest.raises(InvalidInput):
        config(rootfs, seccomp_profile="{}")


def test_the_rootfs_is_remounted_nodev_unless_privileged(rootfs):
    (hook,) = config(rootfs)["hooks"]["createContainer"]
    assert hook["args"][-3:] == ["-o", "remount,bind,nodev", str(rootfs)]
    (hook,) = config(rootfs, readonly_rootfs=True)["hooks"]["createContainer"]
    assert hook["args"][-2] == "remount,bind,nodev,ro"
    assert "hooks" not in config(rootfs, privileged=True)


def test_link_variables_go_under_the_containers_own(rootfs):
    spec = ContainerSpec(args=["sh"], env=["DB_NAME=mine", "X=1"], user="app", hostname="h")
    env = linked_env(spec, rootfs, ["DB_NAME=/app/db", "DB_PORT=tcp://10.0.0.2:80"])
    assert "DB_NAME=mine" in env and "DB_NAME=/app/db" not in env
    assert "DB_PORT=tcp://10.0.0.2:80" in env and "HOME=/home/app" in env
    assert env.index("DB_PORT=tcp://10.0.0.2:80") < env.index("X=1")
