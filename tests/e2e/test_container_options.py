"""Container options through the docker CLI and docker-py: `--mac-address`, `--group-add`,
`--link` and its environment, and what `docker diff` leaves out."""

import uuid

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.privileged]


def ok(done) -> str:
    assert done.returncode == 0, done.stderr
    return done.stdout


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def test_diff_leaves_out_the_files_the_platform_mounts(platform):
    name = unique("diff")
    try:
        ok(platform.docker("run", "--name", name, "busybox", "true"))
        assert ok(platform.docker("diff", name)) == ""
        ok(platform.docker("start", "-a", name))
        ok(platform.docker("run", "--name", f"{name}-2", "busybox", "touch", "/etc/motd"))
        assert ok(platform.docker("diff", f"{name}-2")).splitlines() == ["C /etc", "A /etc/motd"]
    finally:
        platform.docker("rm", "-f", name, f"{name}-2")


def test_group_add_gives_the_process_named_and_numbered_groups(platform):
    out = ok(
        platform.docker(
            "run",
            "--rm",
            "--user",
            "65534",
            "--group-add",
            "daemon",
            "--group-add",
            "4242",
            "busybox",
            "id",
        )
    )
    assert "groups=" in out, out
    groups = out.split("groups=", 1)[1]
    assert "(daemon)" in groups and "4242" in groups
    refused = platform.docker("run", "--rm", "--group-add", "no-such-group", "busybox", "id")
    assert refused.returncode != 0
    assert "unable to find group no-such-group" in refused.stderr
