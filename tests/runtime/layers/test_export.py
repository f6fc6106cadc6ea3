import hashlib
import io
import os
import stat
import tarfile

import pytest

from runtime.layers.apply import apply_layer
from runtime.layers.export import write_layer

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (chown, mknod, xattrs)")


@pytest.fixture
def upperdir(tmp_path):
    """An upperdir as overlay leaves it: files, a whiteout, an opaque directory."""
    upper = tmp_path / "upper"
    (upper / "usr/bin").mkdir(parents=True)
    tool = upper / "usr/bin/tool"
    tool.write_bytes(b"binary")
    os.chown(tool, 1234, 5678)
    os.chmod(tool, 0o4755)
    os.link(tool, upper / "usr/bin/tool-alias")
    os.symlink("tool", upper / "usr/bin/t")
    os.setxattr(tool, "user.origin", b"\xffbinary-value")
    os.mknod(upper / "usr/bin/removed", stat.S_IFCHR, os.makedev(0, 0))
    (upper / "var/cache").mkdir(parents=True)
    os.setxattr(upper / "var/cache", "trusted.overlay.opaque", b"y")
    (upper / "var/cache/fresh").write_text("new")
    os.mkfifo(upper / "var/pipe")
    for path in sorted(upper.rglob("*"), reverse=True):
        os.utime(path, (1_650_000_000, 1_650_000_000), follow_symlinks=False)
    return upper


def test_it_turns_overlay_markers_back_into_whiteout_entries(upperdir):
    out = io.BytesIO()

    diff_id = write_layer(upperdir, out)

    data = out.getvalue()
    assert diff_id == "sha256:" + hashlib.sha256(data).hexdigest()
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = {m.name: m for m in tar}
    assert list(members) == sorted(members, key=lambda n: n.split("/"))
    assert "usr/bin/.wh.removed" in members
    assert "var/cache/.wh..wh..opq" in members
    assert members["usr/bin/tool-alias"].islnk()
    assert members["usr/bin/tool-alias"].linkname == "usr/bin/tool"
    tool = members["usr/bin/tool"]
    assert (tool.uid, tool.gid, tool.mode, tool.uname) == (1234, 5678, 0o4755, "")
    assert "SCHILY.xattr.trusted.overlay.opaque" not in members["var/cache"].pax_headers


def test_it_round_trips_through_apply_layer(upperdir, tmp_path):
    first = io.BytesIO()
    diff_id = write_layer(upperdir, first)
    applied = tmp_path / "applied"

    apply_layer(io.BytesIO(first.getvalue()), applied)

    removed = (applied / "usr/bin/removed").lstat()
    assert stat.S_ISCHR(removed.st_mode) and removed.st_rdev == 0
    assert os.getxattr(applied / "var/cache", "trusted.overlay.opaque") == b"y"
    assert os.getxattr(applied / "usr/bin/tool", "user.origin") == b"\xffbinary-value"
    assert stat.S_IMODE((applied / "usr/bin/tool").stat().st_mode) == 0o4755
    assert (applied / "usr/bin/tool-alias").stat().st_nlink == 2
    assert write_layer(applied, io.BytesIO()) == diff_id


def test_it_is_deterministic(upperdir):
    assert write_layer(upperdir, io.BytesIO()) == write_layer(upperdir, io.BytesIO())
