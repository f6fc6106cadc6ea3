from pathlib import Path

import pytest

from runtime import cgroups


def test_version_is_known():
    assert cgroups.version() in ("v1", "v2")


def test_container_cgroup_path():
    assert cgroups.container_cgroup("abc") == "/dockyard/abc"


@pytest.mark.privileged
def test_prepare_host_is_idempotent_and_lets_crun_run():
    cgroups.prepare_host()
    cgroups.prepare_host()
    unified = cgroups.CGROUP_ROOT / "unified" / "cgroup.controllers"
    if cgroups.version() == "v1" and unified.exists():
        mounted = cgroups._v1_mounted_controllers()
        for name in unified.read_text().split():
            assert name in mounted
        mounts = Path("/proc/self/mountinfo").read_text()
        for name in unified.read_text().split():
            assert mounts.count(f" /sys/fs/cgroup/{name} ") == 1


def test_read_stats_of_missing_cgroup_is_zero():
    stats = cgroups.read_stats("/dockyard/does-not-exist-dyt")
    assert stats.memory_usage == 0 and stats.pids_current == 0
    assert cgroups.pids("/dockyard/does-not-exist-dyt") == []
