"""The local driver's directories and the copy-up of an image's content into a new volume."""

import os
from pathlib import Path

import pytest

from runtime import volumes
from runtime.containers.ocimounts import oci_mounts
from runtime.containers.spec import ContainerSpec
from runtime.errors import InvalidInput
from runtime.paths import RuntimePaths


@pytest.fixture
def paths(tmp_path: Path) -> RuntimePaths:
    return RuntimePaths(root=tmp_path / "root", run=tmp_path / "run").ensure()


def test_create_is_idempotent_and_remove_takes_the_content(paths):
    info = volumes.create(paths, "data")
    assert info.mountpoint == str(paths.root / "volumes" / "data" / "_data")
    (Path(info.mountpoint) / "f").write_bytes(b"12345")
    assert volumes.create(paths, "data") == info
    assert volumes.sizes(paths, ["data"]) == {"data": 5}
    volumes.remove(paths, "data")
    assert not (paths.root / "volumes" / "data").exists()
    volumes.remove(paths, "data")


@pytest.mark.parametrize("name", ["../etc", "a/b", "x", ".hidden", ""])
def test_a_name_cannot_leave_the_volumes_directory(paths, name):
    with pytest.raises(InvalidInput):
        volumes.create(paths, name)


def test_a_volume_mount_is_a_bind_of_its_directory():
    spec = ContainerSpec(
        args=["true"],
        mounts=[{"source": "/v/_data", "destination": "/data", "readonly": True}],
    )
    assert oci_mounts(spec)[-1] == {
        "destination": "/data",
        "type": "bind",
        "source": "/v/_data",
        "options": ["rbind", "ro", "rprivate"],
    }


@pytest.mark.privileged
def test_copy_up_keeps_owners_and_modes_and_never_follows_the_images_links(paths, tmp_path):
    rootfs = tmp_path / "rootfs"
    (rootfs / "seed" / "sub").mkdir(parents=True)
    (rootfs / "seed" / "sub" / "f").write_text("hello")
    os.chown(rootfs / "seed" / "sub" / "f", 1000, 1001)
    os.chmod(rootfs / "seed", 0o750)
    (rootfs / "seed" / "hostile").symlink_to("/etc")
    # A mount path that is itself a link resolves inside the rootfs, never on the host.
    (rootfs / "escape").symlink_to("/etc")
    data = Path(volumes.create(paths, "vv").mountpoint)
    volumes.copy_up(paths, "vv", rootfs, "/seed")
    assert (data / "sub" / "f").read_text() == "hello"
    st = os.stat(data / "sub" / "f")
    assert (st.st_uid, st.st_gid) == (1000, 1001)
    assert os.stat(data).st_mode & 0o777 == 0o750
    assert os.readlink(data / "hostile") == "/etc"
    volumes.create(paths, "ww")
    volumes.copy_up(paths, "ww", rootfs, "/escape")
    assert volumes.is_empty(paths, "ww")
    # Only an empty volume takes a copy.
    (data / "sub" / "f").write_text("changed")
    volumes.copy_up(paths, "vv", rootfs, "/seed")
    assert (data / "sub" / "f").read_text() == "changed"
