"""`docker cp` through a container's volumes and bind mounts: reads and writes reach the
mount's directory, and a symlink an attacker leaves in a volume leads nowhere else."""

import io
import os
import tarfile
import uuid
from pathlib import Path

import pytest

from runtime import volumes
from runtime.containers import archive, listing, pathstat
from runtime.errors import Forbidden, NotFound

pytestmark = pytest.mark.privileged


def tar_of(*entries: tuple[str, bytes | str]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, content in entries:
            info = tarfile.TarInfo(name)
            if isinstance(content, str):
                info.type, info.linkname = tarfile.SYMTYPE, content
                tar.addfile(info)
            else:
                info.size, info.mode = len(content), 0o644
                tar.addfile(info, io.BytesIO(content))
    return buf.getvalue()


def read_tar(chunks) -> dict:
    with tarfile.open(fileobj=io.BytesIO(b"".join(chunks))) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar if m.isfile()}


@pytest.fixture
def with_volume(runtime_paths, containers, tmp_path):
    """A running container with a volume at /data and a read-only bind of a directory at
    /ro; returns its id, the volume's directory and the bound directory."""
    vol = volumes.create(runtime_paths, f"dyt{uuid.uuid4().hex[:8]}")
    bound = tmp_path / "bound"
    bound.mkdir()
    (bound / "kept").write_text("read only\n")
    cid = containers(
        "sleep",
        "300",
        start=True,
        mounts=[
            {"source": vol.mountpoint, "destination": "/data", "volume": vol.name},
            {"source": str(bound), "destination": "/ro", "readonly": True},
        ],
    )
    return cid, vol.mountpoint, bound


def test_copy_into_and_out_of_a_volume_uses_the_volumes_directory(runtime_paths, with_volume):
    cid, vol, _ = with_volume
    archive.put_archive(runtime_paths, cid, "/data", [tar_of(("in.txt", b"into the volume"))])
    assert Path(vol, "in.txt").read_bytes() == b"into the volume"
    assert not (runtime_paths.container(cid) / "upper" / "data" / "in.txt").exists()
    info, chunks = archive.get_archive(runtime_paths, cid, "/data/in.txt")
    assert info.name == "in.txt" and info.size == len(b"into the volume")
    assert read_tar(chunks) == {"in.txt": b"into the volume"}
    assert pathstat.stat_path(runtime_paths, cid, "/data/").mode & pathstat.GO_DIR
    assert [e.name for e in listing.list_directory(runtime_paths, cid, "/data", 10)] == ["in.txt"]
    _, whole = archive.get_archive(runtime_paths, cid, "/ro")
    assert read_tar(whole) == {"ro/kept": b"read only\n"}


def test_a_path_a_rootfs_symlink_leads_into_a_volume_reaches_the_volume(runtime_paths, with_volume):
    cid, vol, _ = with_volume
    archive.put_archive(runtime_paths, cid, "/", [tar_of(("shortcut", "/data"))])
    archive.put_archive(runtime_paths, cid, "/shortcut/", [tar_of(("via.txt", b"via"))])
    assert Path(vol, "via.txt").read_bytes() == b"via"
    _, chunks = archive.get_archive(runtime_paths, cid, "/shortcut/via.txt")
    assert read_tar(chunks) == {"via.txt": b"via"}


# CVE-2018-15664: a symlink the container leaves in its volume leads where it leads inside
# the container (its own rootfs), never to the host's files.
def test_a_symlink_planted_in_a_volume_leads_only_into_the_container(
    runtime_paths, with_volume, lowerdir
):
    cid, vol, _ = with_volume
    marker = f"dyt-planted-{uuid.uuid4().hex[:8]}"
    os.symlink("/", os.path.join(vol, "to-root"))
    os.symlink("../../../../../../../../tmp", os.path.join(vol, "climb"))
    os.symlink("/etc", os.path.join(vol, "host-etc"))
    archive.put_archive(runtime_paths, cid, "/data/to-root", [tar_of((marker, b"x"))])
    archive.put_archive(runtime_paths, cid, "/data/climb", [tar_of((marker + "2", b"x"))])
    assert not os.path.exists(f"/{marker}") and not os.path.exists(f"/tmp/{marker}2")
    upper = runtime_paths.container(cid) / "upper"
    assert (upper / marker).exists() and (upper / "tmp" / f"{marker}2").exists()
    _, chunks = archive.get_archive(runtime_paths, cid, "/data/host-etc/passwd")
    assert read_tar(chunks) == {"passwd": (lowerdir / "etc" / "passwd").read_bytes()}
    assert pathstat.stat_path(runtime_paths, cid, "/data/host-etc").link_target == "/etc"
    with pytest.raises(NotFound):
        archive.open_file(runtime_paths, cid, "/data/to-root/no-such-file")


def test_a_tar_that_plants_a_symlink_then_writes_through_it_stays_in_the_volume(
    runtime_paths, with_volume
):
    cid, vol, _ = with_volume
    marker = f"dyt-through-{uuid.uuid4().hex[:8]}"
    hostile = tar_of(("out", "/"), (f"out/{marker}", b"x"))
    archive.put_archive(runtime_paths, cid, "/data", [hostile])
    assert not os.path.exists(f"/{marker}")
    assert os.path.exists(os.path.join(vol, marker))


def test_a_read_only_mount_refuses_a_copy_in(runtime_paths, with_volume):
    cid, _, bound = with_volume
    with pytest.raises(Forbidden, match="read-only"):
        archive.put_archive(runtime_paths, cid, "/ro", [tar_of(("new", b"x"))])
    assert sorted(os.listdir(bound)) == ["kept"]


def test_a_bind_of_one_file_and_the_containers_etc_files_are_read_where_they_are(
    runtime_paths, containers, tmp_path
):
    etc = tmp_path / "etc"
    etc.mkdir()
    for name, text in (("hosts", "127.0.0.1 localhost\n"), ("hostname", "box\n")):
        (etc / name).write_text(text)
    (etc / "resolv.conf").write_text("")
    (tmp_path / "single").write_text("one file\n")
    (tmp_path / "sibling").write_text("not bound\n")
    cid = containers(
        "true",
        etc_dir=str(etc),
        mounts=[{"source": str(tmp_path / "single"), "destination": "/one.txt"}],
    )
    _, chunks = archive.get_archive(runtime_paths, cid, "/etc/hostname")
    assert read_tar(chunks) == {"hostname": b"box\n"}
    _, chunks = archive.get_archive(runtime_paths, cid, "/one.txt")
    assert read_tar(chunks) == {"one.txt": b"one file\n"}
    for beside in ("/one.txt/../sibling", "/one.txt/x"):
        with pytest.raises(NotFound):
            pathstat.stat_path(runtime_paths, cid, beside)
