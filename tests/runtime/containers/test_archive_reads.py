"""The reads the file browser and `docker cp` share: one file, one directory level, a size,
and a tar that stops at a cap, all resolved inside the container's root."""

import io
import os
import stat
import tarfile

import pytest

from runtime.containers import archive, listing, pathstat
from runtime.errors import InvalidInput, NotFound

pytestmark = pytest.mark.privileged


def upper(runtime_paths, cid: str):
    return runtime_paths.container(cid) / "upper"


def test_open_file_follows_links_inside_the_container_only(runtime_paths, containers, tmp_path):
    cid = containers("true")
    top = upper(runtime_paths, cid)
    (top / "srv").mkdir()
    (top / "srv" / "data.bin").write_bytes(b"0123456789" * 1000)
    (top / "srv" / "link").symlink_to("/srv/data.bin")
    host_file = tmp_path / "host-only"
    host_file.write_text("host secret")
    (top / "srv" / "out").symlink_to(host_file)

    info, chunks = archive.open_file(runtime_paths, cid, "/srv/link")
    assert b"".join(chunks) == b"0123456789" * 1000
    assert (info.name, info.size) == ("link", 10000)
    with pytest.raises(NotFound):
        archive.open_file(runtime_paths, cid, "/srv/out")
    with pytest.raises(InvalidInput, match="not a regular file"):
        archive.open_file(runtime_paths, cid, "/srv")
    with pytest.raises(archive.TooLarge):
        archive.open_file(runtime_paths, cid, "/srv/data.bin", max_bytes=9999)


def test_a_device_is_never_opened_for_a_download(runtime_paths, containers):
    cid = containers("true")
    os.mknod(upper(runtime_paths, cid) / "zero", stat.S_IFCHR | 0o666, os.makedev(1, 5))
    os.mkfifo(upper(runtime_paths, cid) / "pipe")

    for name in ("/zero", "/pipe"):
        with pytest.raises(InvalidInput, match="not a regular file"):
            archive.open_file(runtime_paths, cid, name)


def test_the_tar_stream_stops_past_its_cap(runtime_paths, containers):
    cid = containers("true")
    (upper(runtime_paths, cid) / "big").mkdir()
    for n in range(4):
        (upper(runtime_paths, cid) / "big" / f"f{n}").write_bytes(bytes(64 * 1024))

    _, whole = archive.get_archive(runtime_paths, cid, "/big")
    data = b"".join(whole)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        assert sorted(m.name for m in tar) == ["big", "big/f0", "big/f1", "big/f2", "big/f3"]
    _, capped = archive.get_archive(runtime_paths, cid, "/big", max_bytes=len(data) - 1)
    with pytest.raises(archive.TooLarge):
        b"".join(capped)
    assert archive.tree_size(runtime_paths, cid, "/big", stop_after=1 << 30) <= len(data)
    assert archive.tree_size(runtime_paths, cid, "/big", stop_after=1000) > 1000


def test_a_directory_is_listed_one_level_without_following_links(runtime_paths, containers):
    cid = containers("true")
    top = upper(runtime_paths, cid)
    (top / "srv" / "sub").mkdir(parents=True)
    (top / "srv" / "file").write_bytes(b"abc")
    (top / "srv" / "sub" / "deeper").write_bytes(b"")
    (top / "srv" / "root").symlink_to("/")

    listed = {e.name: e for e in listing.list_directory(runtime_paths, cid, "/srv", 100)}

    assert sorted(listed) == ["file", "root", "sub"]
    assert stat.S_ISDIR(listed["sub"].mode) and listed["file"].size == 3
    assert stat.S_ISLNK(listed["root"].mode) and listed["root"].link_target == "/"
    assert [e.name for e in listing.list_directory(runtime_paths, cid, "/srv", 1)] == ["file"]
    with pytest.raises(InvalidInput):
        listing.list_directory(runtime_paths, cid, "/srv/file", 100)


def test_link_targets_resolve_inside_the_container(runtime_paths, containers):
    cid = containers("true")
    top = upper(runtime_paths, cid)
    (top / "a").mkdir()
    (top / "a" / "up").symlink_to("../../../../etc")
    (top / "a" / "dangling").symlink_to("missing/file")

    assert pathstat.stat_path(runtime_paths, cid, "/a/up").link_target == "/etc"
    assert pathstat.stat_path(runtime_paths, cid, "/a/dangling").link_target == "/a/missing/file"
