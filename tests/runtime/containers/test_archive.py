import io
import os
import tarfile

import pytest

from runtime.containers import archive, pathstat
from runtime.errors import InvalidInput, NotFound

pytestmark = pytest.mark.privileged


def make_tar(entries) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for info, data in entries:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def file_entry(name, data, mode=0o644, uid=0):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode
    info.uid = info.gid = uid
    return info, data


def read_tar(chunks) -> dict:
    with tarfile.open(fileobj=io.BytesIO(b"".join(chunks))) as tar:
        return {m.name: (tar.extractfile(m).read() if m.isfile() else m) for m in tar}


def test_copy_in_and_out(runtime_paths, containers):
    cid = containers("true")
    d = tarfile.TarInfo("dir")
    d.type = tarfile.DIRTYPE
    d.mode = 0o755
    link = tarfile.TarInfo("dir/link")
    link.type = tarfile.SYMTYPE
    link.linkname = "file.txt"
    data = make_tar(
        [(d, None), file_entry("dir/file.txt", b"payload", 0o4755, uid=1234), (link, None)]
    )
    archive.put_archive(runtime_paths, cid, "/tmp", [data[:100], data[100:]])
    on_disk = runtime_paths.container(cid) / "upper" / "tmp" / "dir" / "file.txt"
    st = os.lstat(on_disk)
    assert on_disk.read_bytes() == b"payload"
    assert st.st_uid == 1234 and st.st_mode & 0o7777 == 0o4755

    stat, stream = archive.get_archive(runtime_paths, cid, "/tmp/dir")
    assert stat.name == "dir" and stat.mode & pathstat.GO_DIR
    members = read_tar(stream)
    assert members["dir/file.txt"] == b"payload"
    assert members["dir/link"].linkname == "file.txt"

    file_stat = pathstat.stat_path(runtime_paths, cid, "/tmp/dir/file.txt")
    assert file_stat.size == 7
    assert file_stat.mode == 0o755 | pathstat.GO_SETUID
    link_stat = pathstat.stat_path(runtime_paths, cid, "/tmp/dir/link")
    assert link_stat.mode & pathstat.GO_SYMLINK
    assert link_stat.link_target == "/tmp/dir/file.txt"


def test_missing_paths_are_not_found(runtime_paths, containers):
    cid = containers("true")
    with pytest.raises(NotFound):
        pathstat.stat_path(runtime_paths, cid, "/nope")
    with pytest.raises(NotFound):
        archive.get_archive(runtime_paths, cid, "/nope")
    with pytest.raises(NotFound):
        archive.put_archive(runtime_paths, cid, "/nope", [make_tar([file_entry("a", b"a")])])


def test_hostile_entries_are_refused(runtime_paths, containers):
    cid = containers("true")
    with pytest.raises(InvalidInput):
        archive.put_archive(runtime_paths, cid, "/tmp", [make_tar([file_entry("../evil", b"x")])])
    with pytest.raises(InvalidInput):
        archive.put_archive(runtime_paths, cid, "/tmp", [make_tar([file_entry("/abs", b"x")])])
    with pytest.raises(InvalidInput):
        archive.put_archive(runtime_paths, cid, "/tmp", [b"this is not a tar archive" * 50])


def test_cve_2018_15664_symlink_to_root_stays_inside(runtime_paths, containers, tmp_path):
    """CVE-2018-15664: a container symlink pointing at / must resolve in the container."""
    cid = containers("true")
    upper = runtime_paths.container(cid) / "upper"
    (upper / "escape").symlink_to("/")
    (upper / "etcl").symlink_to("/etc")
    host_marker = tmp_path / "host-only"
    host_marker.write_text("host secret")

    with pytest.raises(NotFound):
        archive.get_archive(runtime_paths, cid, f"/escape{tmp_path}")
    with pytest.raises(NotFound):
        pathstat.stat_path(runtime_paths, cid, f"/escape{host_marker}")

    _, stream = archive.get_archive(runtime_paths, cid, "/etcl/passwd")
    assert b"app:x:1234" in read_tar(stream)["passwd"]

    dest = f"/escape{tmp_path}"
    with pytest.raises(NotFound):
        archive.put_archive(runtime_paths, cid, dest, [make_tar([file_entry("pwned", b"x")])])
    assert not (tmp_path / "pwned").exists()

    archive.put_archive(runtime_paths, cid, "/escape/tmp", [make_tar([file_entry("in", b"x")])])
    assert (upper / "tmp" / "in").read_bytes() == b"x"
