import gzip
import io
import json
import os
import tarfile

import pytest

from runtime.errors import InvalidInput
from runtime.images.archive import load_archive
from runtime.images.archive_save import save_archive
from runtime.images.store import ImageStore
from tests.runtime.layers.tars import make_tar

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (layer unpacking)")


def _image(store: ImageStore):
    layer = make_tar({"name": "etc/motd", "data": b"saved"})
    return store.add_image([io.BytesIO(layer)], {"config": {"Cmd": ["sh"]}}, tags=["app:v1"])


def test_save_writes_both_layouts_and_loads_back(runtime_paths, tmp_path):
    store = ImageStore(runtime_paths)
    image = _image(store)
    out = io.BytesIO()
    save_archive(store, ["app:v1"], out)
    with tarfile.open(fileobj=io.BytesIO(out.getvalue())) as tar:
        names = set(tar.getnames())
        manifest = json.loads(tar.extractfile("manifest.json").read())
        index = json.loads(tar.extractfile("index.json").read())
    assert {"oci-layout", "index.json", "manifest.json", "repositories"} <= names
    assert manifest[0]["RepoTags"] == ["app:v1"]
    assert manifest[0]["Config"] == f"blobs/sha256/{image.id[7:]}"
    assert index["manifests"][0]["annotations"]["io.containerd.image.name"] == (
        "docker.io/library/app:v1"
    )
    store.remove("app:v1")
    (loaded,) = load_archive(store, io.BytesIO(out.getvalue()))
    assert loaded.id == image.id and loaded.tags == ["app:v1"]


def _oci_archive(layer: bytes, media_type: str) -> bytes:
    import hashlib

    def digest(data: bytes) -> str:
        return "sha256:" + hashlib.sha256(data).hexdigest()

    config = json.dumps({"rootfs": {"type": "layers", "diff_ids": [digest(layer)]}}).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": digest(config),
                "size": len(config),
            },
            "layers": [{"mediaType": media_type, "digest": digest(layer), "size": len(layer)}],
        }
    ).encode()
    index = json.dumps(
        {
            "manifests": [
                {
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": digest(manifest),
                    "size": len(manifest),
                }
            ]
        }
    ).encode()
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, data in [
            ("index.json", index),
            *((f"blobs/sha256/{digest(d)[7:]}", d) for d in (config, manifest, layer)),
        ]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def test_a_layer_lying_about_its_media_type_is_refused(runtime_paths):
    store = ImageStore(runtime_paths)
    plain = make_tar({"name": "a", "data": b"x"})
    archive = _oci_archive(plain, "application/vnd.oci.image.layer.v1.tar+gzip")
    with pytest.raises(InvalidInput, match="lying media type"):
        load_archive(store, io.BytesIO(archive))
    assert store.list() == []


def test_a_layer_that_unpacks_past_the_cap_is_refused(runtime_paths):
    store = ImageStore(runtime_paths)
    bomb = gzip.compress(make_tar({"name": "zeros", "data": b"\0" * (2 << 20)}))
    archive = _oci_archive(bomb, "application/vnd.oci.image.layer.v1.tar+gzip")
    with pytest.raises(InvalidInput, match="larger than the limit"):
        load_archive(store, io.BytesIO(archive), max_bytes=1 << 20)
    assert store.list() == []
