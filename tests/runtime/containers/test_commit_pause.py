"""`docker commit` freezes a running container while its layer is written, as Docker does by
default, and thaws it afterwards, also when the commit fails."""

import io
import time
from pathlib import Path

import pytest

from runtime import cgroups
from runtime.containers import lifecycle
from runtime.containers.commit import commit_container
from runtime.containers.state import Status, load_state
from runtime.errors import RuntimeFailure
from runtime.images import commit as image_commit
from runtime.images.store import ImageStore
from tests.runtime.layers.tars import make_tar

pytestmark = pytest.mark.privileged

WRITER = "while :; do echo tick >> /tmp/ticks; done"
GROW_TIMEOUT = 15.0


def freezer_state(cid: str) -> str:
    group = cgroups.container_cgroup(cid).lstrip("/")
    if cgroups.version() == "v2":
        frozen = (cgroups.CGROUP_ROOT / group / "cgroup.freeze").read_text().strip() == "1"
        return "FROZEN" if frozen else "THAWED"
    return (cgroups.CGROUP_ROOT / "freezer" / group / "freezer.state").read_text().strip()


def size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def grows(path: Path, timeout: float = GROW_TIMEOUT) -> bool:
    """Whether `path` gets longer within `timeout` seconds."""
    start = size(path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if size(path) > start:
            return True
        time.sleep(0.01)
    return False


@pytest.fixture
def parent(runtime_paths):
    store = ImageStore(runtime_paths)
    return store.add_image([io.BytesIO(make_tar({"name": "etc/motd", "data": b"x"}))], {})


@pytest.fixture
def during_commit(monkeypatch):
    """What the container's state and freezer were while its layer was being written; set
    `fail` to make the writing fail."""
    seen: dict = {"fail": None}
    real = image_commit.write_layer

    def watched(upperdir: Path, out) -> str:
        cid = upperdir.parent.name
        ticks = upperdir / "tmp" / "ticks"
        seen["status"] = load_state(seen["paths"], cid).status
        seen["freezer"] = freezer_state(cid)
        before = size(ticks)
        diff_id = real(upperdir, out)
        # Everything the layer holds was read while the writer could not write.
        seen["ticks_moved"] = size(ticks) != before
        if seen["fail"]:
            raise seen["fail"]
        return diff_id

    monkeypatch.setattr(image_commit, "write_layer", watched)
    return seen


def test_commit_freezes_the_container_and_thaws_it_after(
    runtime_paths, containers, parent, during_commit
):
    cid = containers("sh", "-c", WRITER, start=True)
    ticks = runtime_paths.container(cid) / "upper" / "tmp" / "ticks"
    assert grows(ticks)
    during_commit["paths"] = runtime_paths

    image = commit_container(runtime_paths, cid, parent.id)

    assert during_commit["status"] == Status.paused
    assert during_commit["freezer"] == "FROZEN"
    assert during_commit["ticks_moved"] is False
    assert load_state(runtime_paths, cid).status == Status.running
    assert freezer_state(cid) == "THAWED"
    assert grows(ticks)
    top = ImageStore(runtime_paths).snapshots.dirs(image)[0]
    assert (top / "tmp" / "ticks").read_text().startswith("tick\n")


def test_a_failed_commit_thaws_the_container_too(runtime_paths, containers, parent, during_commit):
    cid = containers("sh", "-c", WRITER, start=True)
    ticks = runtime_paths.container(cid) / "upper" / "tmp" / "ticks"
    during_commit["paths"] = runtime_paths
    during_commit["fail"] = RuntimeFailure("no space left for the layer")

    with pytest.raises(RuntimeFailure, match="no space left"):
        commit_container(runtime_paths, cid, parent.id)

    assert during_commit["freezer"] == "FROZEN"
    assert load_state(runtime_paths, cid).status == Status.running
    assert freezer_state(cid) == "THAWED"
    assert grows(ticks)


def test_pause_false_leaves_it_running(runtime_paths, containers, parent, during_commit):
    cid = containers("sh", "-c", WRITER, start=True)
    during_commit["paths"] = runtime_paths

    commit_container(runtime_paths, cid, parent.id, pause=False)

    assert during_commit["status"] == Status.running
    assert during_commit["freezer"] == "THAWED"
    assert load_state(runtime_paths, cid).status == Status.running


def test_a_container_its_owner_paused_stays_paused(
    runtime_paths, containers, parent, during_commit
):
    cid = containers("sh", "-c", WRITER, start=True)
    during_commit["paths"] = runtime_paths
    lifecycle.pause(runtime_paths, cid)

    commit_container(runtime_paths, cid, parent.id)

    assert during_commit["status"] == Status.paused
    assert load_state(runtime_paths, cid).status == Status.paused
    assert freezer_state(cid) == "FROZEN"
    lifecycle.unpause(runtime_paths, cid)


def test_a_stopped_container_commits_without_a_pause(runtime_paths, containers, parent):
    cid = containers("sh", "-c", "echo done > /tmp/done", start=True)
    assert lifecycle.wait(runtime_paths, cid, timeout=30).status == Status.exited

    image = commit_container(runtime_paths, cid, parent.id, comment="after exit")

    top = ImageStore(runtime_paths).snapshots.dirs(image)[0]
    assert (top / "tmp" / "done").read_text() == "done\n"
    assert load_state(runtime_paths, cid).status == Status.exited
