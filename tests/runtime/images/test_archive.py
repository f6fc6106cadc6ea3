import io
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from runtime.errors import DigestMismatch, InvalidInput
from runtime.images.archive import load_archive
from runtime.images.store import ImageStore

FIXTURES = Path(__file__).parent / "fixtures"
pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (layer unpacking)"),
]


def runs_echo(store, image) -> str:
    (root,) = store.snapshots.dirs(image)
    done = subprocess.run(
        ["chroot", str(root), "/bin/busybox", "echo", "hi"], capture_output=True, text=True
    )
    return done.stdout


def test_it_loads_a_docker_save_archive(runtime_paths):
    store = ImageStore(runtime_paths)
    with open(FIXTURES / "busybox-docker-save.tar", "rb") as f:
        (image,) = load_archive(store, f)

    assert image.tags == ["127.0.0.1:5000/library/busybox:latest"]
    assert image.id == "sha256:32e46c43d14351f5f371413a906316ba8b7b12602540c409cdbf3c84ee84c80c"
    assert runs_echo(store, image) == "hi\n"


def test_it_loads_an_oci_layout_archive(runtime_paths):
    store = ImageStore(runtime_paths)
    with open(FIXTURES / "busybox-oci.tar", "rb") as f:
        (image,) = load_archive(store, f)

    assert image.tags == ["busybox:latest"]
    assert image.layers[0].media_type.endswith("tar+gzip")
    assert store.get("busybox").id == image.id
    assert runs_echo(store, image) == "hi\n"


def test_both_archives_hold_the_same_root_filesystem(runtime_paths):
    store = ImageStore(runtime_paths)
    with open(FIXTURES / "busybox-docker-save.tar", "rb") as f:
        (saved,) = load_archive(store, f)
    with open(FIXTURES / "busybox-oci.tar", "rb") as f:
        (oci,) = load_archive(store, f)

    assert saved.config["rootfs"]["diff_ids"] == oci.config["rootfs"]["diff_ids"]


def test_it_rejects_a_tampered_blob(runtime_paths):
    out = io.BytesIO()
    with (
        tarfile.open(FIXTURES / "busybox-oci.tar") as source,
        tarfile.open(fileobj=out, mode="w") as tar,
    ):
        for member in source.getmembers():
            data = source.extractfile(member).read() if member.isreg() else None
            if member.isreg() and member.size > 100_000:
                data = data[:-1] + bytes([data[-1] ^ 1])
            tar.addfile(member, io.BytesIO(data) if data is not None else None)
    out.seek(0)

    with pytest.raises(DigestMismatch):
        load_archive(ImageStore(runtime_paths), out)


def test_it_rejects_what_is_not_an_image_archive(runtime_paths):
    with pytest.raises(InvalidInput, match="not an image archive"):
        load_archive(ImageStore(runtime_paths), io.BytesIO(b"\0" * 1024))
