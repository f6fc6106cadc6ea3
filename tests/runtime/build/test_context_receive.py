"""The build context is received in one pass: spooled, hashed and indexed as it arrives.

The cache keys COPY makes from the index are the keys reading the unpacked files gives; a
fully cached rebuild unpacks nothing; hostile members are refused as the context arrives.
"""

import hashlib
import io
import os
import stat
import tarfile
from pathlib import Path

import pytest

from runtime.build.builder import Builder, BuildOptions
from runtime.build.context import receive_context
from runtime.build.sources import FileTree
from runtime.errors import InvalidInput
from runtime.images.store import ImageStore


def _tar(*members: tuple) -> bytes:
    """A tar of (kind, name, content or link target[, mode]) members."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for kind, name, value, *mode in members:
            info = tarfile.TarInfo(name)
            info.mode = mode[0] if mode else (0o755 if kind == "dir" else 0o644)
            if kind == "file":
                info.size = len(value)
                tar.addfile(info, io.BytesIO(value))
                continue
            types = {"dir": tarfile.DIRTYPE, "sym": tarfile.SYMTYPE, "link": tarfile.LNKTYPE}
            info.type = types[kind]
            info.linkname = value if kind in ("sym", "link") else ""
            tar.addfile(info)
    return out.getvalue()


def _receive(tmp_path: Path, data: bytes, dockerfile: str = "Dockerfile", **kwargs):
    workdir = tmp_path / "work"
    workdir.mkdir(parents=True, exist_ok=True)
    args = {"options": {"dockerfile": dockerfile}}
    return receive_context(io.BytesIO(data), workdir, args, **kwargs)


MIXED = (
    ("dir", "src", "", 0o750),
    ("file", "src/big.bin", os.urandom(3 << 20)),
    ("file", "src/run.sh", b"echo hi\n", 0o755),
    ("link", "src/same.bin", "src/big.bin"),
    ("sym", "src/alias", "big.bin"),
    ("sym", "up", "../.."),
    ("file", "deep/er/implied.txt", b"parents made on the way\n"),
    ("file", "replaced", b"first\n"),
    ("dir", "replaced", ""),
    ("file", "replaced/inside", b"now a directory\n"),
    ("file", "Dockerfile", b"FROM scratch\n"),
)


def test_each_file_is_hashed_as_it_arrives_and_the_tar_spooled_whole(tmp_path):
    data = _tar(*MIXED)
    context = _receive(tmp_path, data)
    big = hashlib.sha256(MIXED[1][2]).hexdigest()
    assert context.index.entry("src/big.bin").digest == big
    assert context.index.entry("src/same.bin").digest == big
    assert context.index.entry("src/alias").link == "big.bin"
    assert context.spool.read_bytes() == data
    assert not context.root.exists()


@pytest.mark.privileged
def test_the_index_gives_the_keys_the_unpacked_files_give(tmp_path):
    context = _receive(tmp_path, _tar(*MIXED))
    index = context.tree
    files = FileTree(context.files())
    for rel in ("src", "src/big.bin", "src/alias", "up", "deep", "replaced", "Dockerfile"):
        assert index.digest(rel) == files.digest(rel), rel
        assert index.kind(rel) == files.kind(rel), rel
    assert index.listdir("") == files.listdir("")
    assert stat.S_IMODE(os.lstat(context.root / "src").st_mode) == 0o750


@pytest.mark.privileged
def test_dockerignore_leaves_out_of_the_index_what_it_leaves_out_of_the_files(tmp_path):
    ignore = b"*.tmp\nbuild/\n!build/keep.tmp\nDockerfile\n"
    context = _receive(
        tmp_path,
        _tar(
            ("file", ".dockerignore", ignore),
            ("file", "Dockerfile", b"FROM scratch\n"),
            ("file", "a.tmp", b"x"),
            ("file", "a.txt", b"x"),
            ("file", "build/out.o", b"x"),
            ("file", "build/keep.tmp", b"x"),
        ),
    )
    seen = sorted(context.index.entries)
    assert seen == ["", ".dockerignore", "Dockerfile", "a.txt", "build", "build/keep.tmp"]
    files = context.files()
    on_disk = sorted(
        str(p.relative_to(files)) for p in files.rglob("*") if not p.name.startswith("context")
    )
    assert on_disk == [".dockerignore", "Dockerfile", "a.txt", "build", "build/keep.tmp"]


def test_the_dockerfile_is_read_without_unpacking(tmp_path):
    context = _receive(
        tmp_path, _tar(("file", "ci/Build.df", b"FROM scratch\n")), dockerfile="ci/Build.df"
    )
    assert context.dockerfile("ci/Build.df") == b"FROM scratch\n"
    assert not context.root.exists()
    with pytest.raises(InvalidInput, match="Cannot locate specified Dockerfile: Dockerfile"):
        context.dockerfile("Dockerfile")


@pytest.mark.privileged
def test_a_dockerfile_behind_a_symlink_is_read_from_the_unpacked_files(tmp_path):
    context = _receive(
        tmp_path, _tar(("file", "real", b"FROM scratch\n"), ("sym", "Dockerfile", "real"))
    )
    assert context.dockerfile("Dockerfile") == b"FROM scratch\n"


@pytest.mark.privileged
def test_a_fully_cached_rebuild_unpacks_nothing(runtime_paths, tmp_path):
    layer = io.BytesIO(_tar(("file", "etc/base", b"base")))
    ImageStore(runtime_paths).add_image([layer], {"config": {}}, ["base:1"])
    data = _tar(
        ("file", "Dockerfile", b"FROM base:1\nCOPY a.txt /a.txt\n"), ("file", "a.txt", b"a")
    )
    first = _receive(tmp_path / "one", data)
    built = [m for m in Builder(runtime_paths, first, BuildOptions()).run() if "aux" in m]
    assert first.root.is_dir()
    second = _receive(tmp_path / "two", data)
    lines = list(Builder(runtime_paths, second, BuildOptions()).run())
    assert [m for m in lines if "aux" in m] == built
    assert any("Using cache" in m.get("stream", "") for m in lines)
    assert not second.root.exists()


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
        ([("file", "f", b"x"), ("file", "f/under", b"x")], "not a directory"),
    ],
    ids=[
        "dot-dot",
        "absolute",
        "symlink-to-root",
        "symlink-up",
        "hardlink-up",
        "hardlink-absolute",
        "hardlink-through-symlink",
        "under-a-file",
    ],
)
def test_a_hostile_member_is_refused_as_the_context_arrives(tmp_path, members, refusal):
    with pytest.raises(InvalidInput, match=refusal):
        _receive(tmp_path, _tar(*members))
    assert not (tmp_path / "work" / "context").exists()
    assert not (tmp_path / "escape").exists()


def test_a_context_bigger_than_the_cap_is_refused(tmp_path):
    import gzip

    bomb = gzip.compress(_tar(("file", "big", b"\0" * (4 << 20))))
    with pytest.raises(InvalidInput, match="larger than the limit"):
        _receive(tmp_path, bomb, max_bytes=1 << 20)
