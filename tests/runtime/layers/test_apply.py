import io
import os
import stat

import pytest

from runtime.errors import InvalidInput
from runtime.layers.apply import apply_layer
from tests.runtime.layers.tars import make_tar

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (chroot, chown, mknod)")


@pytest.fixture
def sandbox(tmp_path):
    """A target inside a directory whose other content must never change."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("host data")
    return tmp_path / "target", outside


def test_it_unpacks_files_dirs_and_symlinks(sandbox):
    target, _ = sandbox
    layer = make_tar(
        {"name": "etc", "kind": "dir"},
        {"name": "etc/motd", "data": b"hi\n", "mtime": 1_600_000_000},
        {"name": "usr/bin/tool", "data": b"#!/bin/sh\n", "mode": 0o755},
        {"name": "bin", "kind": "symlink", "linkname": "/usr/bin"},
    )

    apply_layer(io.BytesIO(layer), target)

    assert (target / "etc/motd").read_text() == "hi\n"
    assert (target / "etc/motd").stat().st_mtime == 1_600_000_000
    assert stat.S_IMODE((target / "usr/bin/tool").stat().st_mode) == 0o755
    assert os.readlink(target / "bin") == "/usr/bin"


def test_it_keeps_setuid_and_numeric_owners(sandbox):
    target, _ = sandbox
    layer = make_tar(
        {"name": "usr/bin/su", "data": b"elf", "mode": 0o4755, "uid": 1234, "gid": 5678},
        {"name": "var/mail", "kind": "dir", "mode": 0o2775, "uid": 1234, "gid": 5678},
    )

    apply_layer(io.BytesIO(layer), target)

    su = (target / "usr/bin/su").stat()
    assert stat.S_IMODE(su.st_mode) == 0o4755
    assert (su.st_uid, su.st_gid) == (1234, 5678)
    mail = (target / "var/mail").stat()
    assert stat.S_IMODE(mail.st_mode) == 0o2775
    assert (mail.st_uid, mail.st_gid) == (1234, 5678)


def test_it_creates_devices_fifos_hard_links_and_xattrs(sandbox):
    target, _ = sandbox
    layer = make_tar(
        {"name": "dev/null", "kind": "chr", "dev": (1, 3), "mode": 0o666},
        {"name": "run/pipe", "kind": "fifo", "mode": 0o600},
        {"name": "bin/busybox", "data": b"bb", "mode": 0o755},
        {"name": "bin/sh", "kind": "hardlink", "linkname": "bin/busybox"},
        {"name": "bin/ping", "data": b"p", "xattrs": {"user.note": "hello"}},
    )

    apply_layer(io.BytesIO(layer), target)

    null = (target / "dev/null").lstat()
    assert stat.S_ISCHR(null.st_mode)
    assert (os.major(null.st_rdev), os.minor(null.st_rdev)) == (1, 3)
    assert stat.S_ISFIFO((target / "run/pipe").lstat().st_mode)
    assert (target / "bin/sh").stat().st_ino == (target / "bin/busybox").stat().st_ino
    assert os.getxattr(target / "bin/ping", "user.note") == b"hello"


@pytest.mark.parametrize("compression", ["gzip", "zstd"])
def test_it_accepts_compressed_layers(sandbox, compression):
    target, _ = sandbox
    layer = make_tar({"name": "hello", "data": b"world"}, compression=compression)

    apply_layer(io.BytesIO(layer), target)

    assert (target / "hello").read_text() == "world"


def test_whiteouts_and_opaque_dirs_become_overlay_whiteouts(sandbox):
    target, _ = sandbox
    layer = make_tar(
        {"name": "etc/.wh.motd"},
        {"name": "var/cache", "kind": "dir"},
        {"name": "var/cache/.wh..wh..opq"},
        {"name": "var/cache/fresh", "data": b"new"},
    )

    apply_layer(io.BytesIO(layer), target)

    whiteout = (target / "etc/motd").lstat()
    assert stat.S_ISCHR(whiteout.st_mode) and whiteout.st_rdev == 0
    assert not (target / "etc/.wh.motd").exists()
    assert os.getxattr(target / "var/cache", "trusted.overlay.opaque") == b"y"
    assert not (target / "var/cache/.wh..wh..opq").exists()
    assert (target / "var/cache/fresh").read_text() == "new"


def test_it_ignores_overlay_xattrs_carried_in_the_tar(sandbox):
    target, _ = sandbox
    layer = make_tar({"name": "d", "kind": "dir", "xattrs": {"trusted.overlay.redirect": "/x"}})

    apply_layer(io.BytesIO(layer), target)

    assert "trusted.overlay.redirect" not in os.listxattr(target / "d")


def assert_refused(target, outside, layer, message):
    with pytest.raises(InvalidInput, match=message):
        apply_layer(io.BytesIO(layer), target)
    assert not target.exists()
    assert sorted(p.name for p in outside.iterdir()) == ["secret"]
    assert (outside / "secret").read_text() == "host data"


def test_it_refuses_dot_dot_escapes(sandbox):
    target, outside = sandbox
    layer = make_tar({"name": "ok"}, {"name": "../outside/evil", "data": b"x"})

    assert_refused(target, outside, layer, r"contains '\.\.'")


def test_it_refuses_absolute_names(sandbox):
    target, outside = sandbox
    layer = make_tar({"name": str(outside / "evil"), "data": b"x"})

    assert_refused(target, outside, layer, "absolute path")


def test_cve_2014_6407_symlink_then_write_through_it(sandbox):
    target, outside = sandbox
    layer = make_tar(
        {"name": "escape", "kind": "symlink", "linkname": str(outside)},
        {"name": "escape/evil", "data": b"x"},
    )

    assert_refused(target, outside, layer, "refusing to write through symlink 'escape'")


def test_cve_2014_6407_relative_symlink_then_write_through_it(sandbox):
    target, outside = sandbox
    layer = make_tar(
        {"name": "up", "kind": "symlink", "linkname": "../outside"},
        {"name": "up/secret", "data": b"overwritten"},
    )

    assert_refused(target, outside, layer, "through symlink")


def test_it_refuses_hard_links_to_outside(sandbox):
    target, outside = sandbox
    layer = make_tar({"name": "stolen", "kind": "hardlink", "linkname": "../outside/secret"})

    assert_refused(target, outside, layer, "hard link|'\\.\\.'")


def test_it_refuses_a_hard_link_to_etc_shadow(sandbox):
    target, outside = sandbox
    before = os.stat("/etc/shadow")
    layer = make_tar({"name": "shadow", "kind": "hardlink", "linkname": "/etc/shadow"})

    assert_refused(target, outside, layer, "absolute path '/etc/shadow'")
    assert os.stat("/etc/shadow").st_nlink == before.st_nlink


def test_it_refuses_hard_links_through_a_symlink(sandbox):
    target, outside = sandbox
    layer = make_tar(
        {"name": "o", "kind": "symlink", "linkname": str(outside)},
        {"name": "stolen", "kind": "hardlink", "linkname": "o/secret"},
    )

    assert_refused(target, outside, layer, "hard link goes through symlink 'o'")


def test_it_removes_the_partial_target_on_a_corrupt_tar(sandbox):
    target, outside = sandbox
    layer = make_tar({"name": "a", "data": b"a" * 5000})[:1536]

    with pytest.raises(InvalidInput, match="refusing layer"):
        apply_layer(io.BytesIO(layer), target)

    assert not target.exists()


def test_a_layer_that_unpacks_past_the_limit_is_refused_and_leaves_nothing(sandbox):
    # A decompression bomb in a pulled image: a small gzip layer that unpacks to far more.
    target, _ = sandbox
    layer = make_tar({"name": "zeros", "data": b"\0" * (4 * 1024 * 1024)}, compression="gzip")
    assert len(layer) < 64 * 1024
    with pytest.raises(InvalidInput, match="limit"):
        apply_layer(io.BytesIO(layer), target, max_bytes=1024 * 1024)
    assert not target.exists()
