"""The names a `docker load` would create are read before loading, as the loader reads them.

The engine refuses a user's load by these names before the node sees a byte, so they must be
exactly the ones `load_archive` would tag: from manifest.json (the last one in the archive),
else from index.json's annotations, through any compression the loader accepts.
"""

import gzip
import io
import json
import tarfile

import pytest

from runtime.errors import InvalidInput
from runtime.images.archive import load_archive
from runtime.images.archive_names import archive_tags
from runtime.images.archive_save import save_archive
from runtime.images.store import ImageStore


def _layer() -> io.BytesIO:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        info = tarfile.TarInfo("marker")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    out.seek(0)
    return out


def _rewritten(archive: bytes, drop: tuple[str, ...] = (), extra: tuple = ()) -> bytes:
    """`archive` without the members named `drop`, with member `extra` (name, data) last."""
    out = io.BytesIO()
    with (
        tarfile.open(fileobj=io.BytesIO(archive)) as source,
        tarfile.open(fileobj=out, mode="w") as tar,
    ):
        for member in source:
            if member.name not in drop:
                tar.addfile(member, source.extractfile(member) if member.isreg() else None)
        if extra:
            name, data = extra
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _manifest(archive: bytes) -> list:
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        return json.loads(tar.extractfile("manifest.json").read())


@pytest.fixture
def saved(runtime_paths) -> bytes:
    store = ImageStore(runtime_paths)
    store.add_image([_layer()], {"config": {}}, ["mallory/app:1"])
    out = io.BytesIO()
    save_archive(store, ["mallory/app:1"], out)
    return out.getvalue()


def test_it_reads_the_names_of_a_saved_archive_plain_or_compressed(saved):
    assert archive_tags(io.BytesIO(saved)) == ["mallory/app:1"]
    assert archive_tags(io.BytesIO(gzip.compress(saved))) == ["mallory/app:1"]


def test_a_later_manifest_json_wins_as_it_does_for_the_loader(saved, runtime_paths):
    poisoned = _manifest(saved)
    poisoned[0]["RepoTags"] = ["busybox:latest"]
    archive = _rewritten(saved, extra=("./manifest.json", json.dumps(poisoned).encode()))
    assert archive_tags(io.BytesIO(archive)) == ["busybox:latest"]
    loaded = load_archive(ImageStore(runtime_paths), io.BytesIO(archive))
    assert loaded[0].tags == ["busybox:latest", "mallory/app:1"]


def test_it_reads_an_oci_layout_by_its_annotations(saved):
    oci_only = _rewritten(saved, drop=("manifest.json", "repositories"))
    assert archive_tags(io.BytesIO(oci_only)) == ["mallory/app:1"]


def test_it_refuses_what_it_cannot_read_the_names_of():
    with pytest.raises(InvalidInput, match="neither manifest.json nor index.json"):
        archive_tags(io.BytesIO(_layer().getvalue()))
    with pytest.raises(InvalidInput):
        archive_tags(io.BytesIO(b"not a tar at all" * 100))
