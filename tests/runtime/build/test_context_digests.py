"""The build context is unpacked and hashed in one pass: the chrooted child that writes its
files hashes them, and the cache keys COPY makes from those digests are the keys it would
make by reading the files. Hostile members are refused and leave nothing behind."""

import hashlib
import io
import os
import tarfile

import pytest

from runtime.build.context import tree_digest, unpack_context
from runtime.errors import InvalidInput

pytestmark = pytest.mark.privileged


def _context(*members: tuple[str, str, bytes | str]) -> io.BytesIO:
    """A tar of (kind, name, content or link target) members."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for kind, name, value in members:
            info = tarfile.TarInfo(name)
            if kind == "file":
                info.size = len(value)
                tar.addfile(info, io.BytesIO(value))
                continue
            info.type = {"dir": tarfile.DIRTYPE, "sym": tarfile.SYMTYPE, "link": tarfile.LNKTYPE}[
                kind
            ]
            info.mode = 0o755 if kind == "dir" else 0o777
            info.linkname = value if kind in ("sym", "link") else ""
            tar.addfile(info)
    out.seek(0)
    return out


def test_each_file_is_hashed_as_it_is_unpacked(tmp_path):
    data = os.urandom(3 << 20)
    digests = unpack_context(
        _context(
            ("dir", "src", ""),
            ("file", "src/big.bin", data),
            ("file", "Dockerfile", b"FROM busybox\n"),
            ("link", "src/same.bin", "src/big.bin"),
            ("sym", "src/alias", "big.bin"),
        ),
        tmp_path / "ctx",
    )
    expected = hashlib.sha256(data).hexdigest()
    assert digests.files["src/big.bin"] == expected
    assert digests.files["src/same.bin"] == expected
    assert digests.files["Dockerfile"] == hashlib.sha256(b"FROM busybox\n").hexdigest()
    assert "src/alias" not in digests.files and "src" not in digests.files
    assert (tmp_path / "ctx" / "src" / "big.bin").read_bytes() == data


def test_the_cache_key_of_a_tree_is_the_one_reading_the_files_gives(tmp_path):
    digests = unpack_context(
        _context(
            ("dir", "app", ""),
            ("file", "app/a.txt", b"alpha\n"),
            ("dir", "app/lib", ""),
            ("file", "app/lib/b.txt", b"beta\n"),
            ("sym", "app/link", "a.txt"),
        ),
        tmp_path / "ctx",
    )
    root = tmp_path / "ctx"
    for path in (root, root / "app", root / "app" / "a.txt", root / "app" / "lib"):
        assert digests.tree(path) == tree_digest(path)


def test_a_cached_rebuild_does_not_read_the_files_again(tmp_path):
    digests = unpack_context(_context(("file", "a.txt", b"alpha\n")), tmp_path / "ctx")
    recorded = digests.tree(tmp_path / "ctx")
    # Only a read of the file would see this; the digest taken while unpacking stands.
    (tmp_path / "ctx" / "a.txt").write_bytes(b"ALPHA\n")
    assert digests.tree(tmp_path / "ctx") == recorded != tree_digest(tmp_path / "ctx")


def test_a_file_changed_in_the_context_changes_its_key(tmp_path):
    first = unpack_context(_context(("file", "a.txt", b"one\n")), tmp_path / "one")
    second = unpack_context(_context(("file", "a.txt", b"two\n")), tmp_path / "two")
    assert first.tree(tmp_path / "one") != second.tree(tmp_path / "two")


@pytest.mark.parametrize(
    ("members", "refusal"),
    [
        ([("file", "../escape", b"x")], "'..'"),
        ([("file", "/escape", b"x")], "absolute path"),
        ([("sym", "up", "/"), ("file", "up/escape", b"x")], "through symlink"),
        ([("sym", "up", ".."), ("file", "up/escape", b"x")], "through symlink"),
        ([("link", "hard", "../../../etc/passwd")], "'..'"),
        ([("link", "hard", "/etc/passwd")], "absolute path"),
        ([("sym", "etc", "/etc"), ("link", "hard", "etc/passwd")], "through symlink"),
    ],
    ids=[
        "dot-dot",
        "absolute",
        "symlink-to-root",
        "symlink-up",
        "hardlink-up",
        "hardlink-abs",
        "hardlink-through-symlink",
    ],
)
def test_a_hostile_member_is_refused_and_leaves_nothing(tmp_path, members, refusal):
    target = tmp_path / "ctx"
    with pytest.raises(InvalidInput, match=refusal):
        unpack_context(_context(*members), target)
    assert not target.exists()
    assert not (tmp_path / "escape").exists()
    assert sorted(os.listdir(tmp_path)) == []
