import ctypes
import io
import os
import shutil
import uuid

import pytest

from runtime.layers.apply import apply_layer
from runtime.layers.changes import ADDED, DELETED, MODIFIED, Change, changes
from tests.runtime.layers.tars import make_tar

_libc = ctypes.CDLL(None, use_errno=True)
_MNT_DETACH = 2


@pytest.fixture
def overlay(tmp_path):
    """A real overlay mount over two unpacked layers; unmounted even if the test fails."""
    base = tmp_path / f"dytest-{uuid.uuid4().hex[:6]}"
    lower1, lower2 = base / "l1", base / "l2"
    apply_layer(
        io.BytesIO(
            make_tar(
                {"name": "etc/passwd", "data": b"root:x:0:0::/root:/bin/sh\n"},
                {"name": "etc/hostname", "data": b"box\n"},
                {"name": "bin/old", "data": b"old"},
                {"name": "var/cache/a", "data": b"a"},
                {"name": "var/cache/b", "data": b"b"},
                {"name": "srv/gone", "data": b"g"},
            )
        ),
        lower1,
    )
    apply_layer(io.BytesIO(make_tar({"name": "srv/.wh.gone"})), lower2)
    upper, work, merged = base / "upper", base / "work", base / "merged"
    for d in (upper, work, merged):
        d.mkdir(parents=True)
    options = f"lowerdir={lower2}:{lower1},upperdir={upper},workdir={work}".encode()
    if _libc.mount(b"overlay", str(merged).encode(), b"overlay", 0, options) != 0:
        pytest.fail(f"overlay mount failed: {os.strerror(ctypes.get_errno())}")
    try:
        yield merged, upper, [lower2, lower1]
    finally:
        _libc.umount2(str(merged).encode(), _MNT_DETACH)
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.privileged
def test_it_reports_what_docker_diff_shows(overlay):
    merged, upper, lowers = overlay
    with open(merged / "etc/passwd", "a") as f:
        f.write("alice:x:1000:1000::/home/alice:/bin/sh\n")
    os.unlink(merged / "bin/old")
    (merged / "tmp/new").mkdir(parents=True)
    (merged / "tmp/new/file").write_text("x")
    shutil.rmtree(merged / "var/cache")
    (merged / "var/cache").mkdir()
    (merged / "var/cache/c").write_text("c")

    found = changes(upper, lowers)

    assert found == [
        Change("/bin", MODIFIED),
        Change("/bin/old", DELETED),
        Change("/etc", MODIFIED),
        Change("/etc/passwd", MODIFIED),
        Change("/tmp", ADDED),
        Change("/tmp/new", ADDED),
        Change("/tmp/new/file", ADDED),
        Change("/var", MODIFIED),
        Change("/var/cache", MODIFIED),
        Change("/var/cache/c", ADDED),
    ]


@pytest.mark.privileged
def test_an_untouched_container_has_no_changes(overlay):
    merged, upper, lowers = overlay

    assert (merged / "srv").is_dir() and not (merged / "srv/gone").exists()
    assert changes(upper, lowers) == []


ETC_MOUNTS = ["/etc/hosts", "/etc/hostname", "/etc/resolv.conf"]


@pytest.mark.privileged
def test_the_files_mounted_over_the_images_are_hidden_and_so_is_etc_for_them(overlay):
    merged, upper, lowers = overlay
    # What a runtime does to bind the container's own files: mount points made in /etc.
    (merged / "etc/hosts").write_text("")
    (merged / "etc/resolv.conf").write_text("")
    (merged / "etc/hostname").write_text("other\n")

    assert changes(upper, lowers, ETC_MOUNTS) == []


@pytest.mark.privileged
def test_etc_is_still_listed_when_something_else_changed_in_it(overlay):
    merged, upper, lowers = overlay
    (merged / "etc/hosts").write_text("")
    (merged / "etc/motd").write_text("hello\n")

    assert changes(upper, lowers, ETC_MOUNTS) == [
        Change("/etc", MODIFIED),
        Change("/etc/motd", ADDED),
    ]
