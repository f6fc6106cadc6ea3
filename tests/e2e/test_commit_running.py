"""`docker commit` of a running container through the real CLI: frozen while its layer is
written unless `--pause=false`, running again afterwards, its changes in the image."""

import threading
import uuid

import pytest

from runtime import cgroups

pytestmark = [pytest.mark.e2e, pytest.mark.privileged]

# Big enough that writing the layer takes a while the freezer can be seen in.
BLOB = 64 * 1024 * 1024


def freezer_state(cid: str) -> str:
    group = cgroups.container_cgroup(cid).lstrip("/")
    try:
        if cgroups.version() == "v2":
            frozen = (cgroups.CGROUP_ROOT / group / "cgroup.freeze").read_text().strip()
            return "FROZEN" if frozen == "1" else "THAWED"
        return (cgroups.CGROUP_ROOT / "freezer" / group / "freezer.state").read_text().strip()
    except OSError:
        return ""


def commit_watching_the_freezer(platform, cid: str, *args: str) -> tuple[set[str], str]:
    """Run `docker commit`, noting every freezer state the container had meanwhile."""
    seen: set[str] = set()
    done = threading.Event()

    def watch() -> None:
        # Every millisecond, until the commit is over.
        seen.add(freezer_state(cid))
        while not done.wait(0.001):
            seen.add(freezer_state(cid))

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        committed = platform.docker("commit", *args, cid, timeout=120)
    finally:
        done.set()
        watcher.join(10)
    assert committed.returncode == 0, committed.stderr
    return seen - {""}, committed.stdout.strip()


def test_commit_freezes_a_running_container_unless_told_not_to(platform):
    name = f"t{uuid.uuid4().hex[:8]}"
    started = platform.docker(
        "run", "-d", "--name", name, "busybox", "sh", "-c",
        f"head -c {BLOB} /dev/urandom > /blob && echo v1 > /state && exec sleep 600",
    )  # fmt: skip
    assert started.returncode == 0, started.stderr
    cid = platform.docker("inspect", "-f", "{{.Id}}", name).stdout.strip()
    images = []
    try:
        ready = platform.docker("exec", name, "sh", "-c", "while ! test -e /state; do :; done")
        assert ready.returncode == 0, ready.stderr

        paused, image = commit_watching_the_freezer(platform, cid)
        images.append(image)
        assert "FROZEN" in paused
        assert freezer_state(cid) == "THAWED"
        assert platform.docker("inspect", "-f", "{{.State.Status}}", name).stdout == "running\n"
        out = platform.docker("run", "--rm", image, "cat", "/state")
        assert out.stdout == "v1\n", out.stderr

        unpaused, image = commit_watching_the_freezer(platform, cid, "--pause=false")
        images.append(image)
        assert unpaused == {"THAWED"}
        assert platform.docker("exec", name, "true").returncode == 0
    finally:
        platform.docker("rm", "-f", name)
        for image in images:
            platform.docker("rmi", image)
