import io
import json
import os
import threading

import pytest

import runtime.images.snapshots as snapshots_module
from runtime.errors import Conflict, DigestMismatch, InvalidInput, NotFound
from runtime.images.oci import canonical_json, chain_ids
from runtime.images.store import ImageStore
from tests.runtime.layers.tars import make_tar

CONFIG = {"config": {"Cmd": ["sh"], "Env": ["PATH=/bin"]}}


def layer(name: str, data: bytes = b"x", compression: str = "") -> io.BytesIO:
    return io.BytesIO(make_tar({"name": name, "data": data}, compression=compression))


@pytest.fixture
def store(runtime_paths):
    return ImageStore(runtime_paths)


def test_it_adds_an_image_with_manifest_config_and_diff_ids(store):
    image = store.add_image(
        [layer("a"), layer("b", compression="gzip")], CONFIG, tags=["app:1", "app:latest"]
    )

    assert image.tags == ["app:1", "app:latest"]
    assert image.config["config"]["Cmd"] == ["sh"]
    assert image.config["rootfs"]["type"] == "layers"
    assert image.config["rootfs"]["diff_ids"] == [x.diff_id for x in image.layers]
    assert image.layers[1].media_type.endswith("tar+gzip")
    assert image.layers[1].diff_id != image.layers[1].digest
    manifest = json.loads(store.blobs.read(image.manifest_digest))
    assert manifest["config"]["digest"] == image.id
    assert [x["digest"] for x in manifest["layers"]] == [x.digest for x in image.layers]
    assert image.size == sum(x.unpacked_size for x in image.layers) > 0


def test_it_finds_images_by_tag_id_and_short_id(store):
    image = store.add_image([layer("a")], CONFIG, tags=["busybox"])
    hex_id = image.id.removeprefix("sha256:")

    for ref in (
        "busybox",
        "busybox:latest",
        "library/busybox",
        image.id,
        hex_id,
        hex_id[:4],
        "sha256:" + hex_id[:12],
        f"busybox@{image.manifest_digest}",
    ):
        assert store.get(ref).id == image.id, ref


def test_it_says_no_such_image_like_docker(store):
    with pytest.raises(NotFound, match="^No such image: busybox:latest$"):
        store.get("busybox")
    with pytest.raises(NotFound, match="^No such image: Not/Valid$"):
        store.get("Not/Valid")


def test_tags_move_between_images(store):
    old = store.add_image([layer("old")], CONFIG, tags=["app:latest"])
    new = store.add_image([layer("new")], CONFIG, tags=["app:latest"])

    assert store.get("app").id == new.id
    assert store.get(old.id).tags == []
    store.tag(old.id, "app:previous")
    assert store.get("app:previous").id == old.id
    with pytest.raises(InvalidInput):
        store.tag(old.id, f"app@{old.manifest_digest}")


def test_untag_keeps_the_image(store):
    image = store.add_image([layer("a")], CONFIG, tags=["app:1", "app:2"])

    untagged = store.untag("app:1")

    assert untagged.id == image.id
    assert store.get(image.id).tags == ["app:2"]
    with pytest.raises(NotFound):
        store.untag("app:1")


def test_remove_by_tag_untags_until_the_last_tag(store):
    image = store.add_image([layer("a")], CONFIG, tags=["app:1", "app:2"])

    assert store.remove("app:1") == [{"Untagged": "app:1"}]
    assert store.get(image.id).tags == ["app:2"]
    assert store.remove("app:2") == [{"Untagged": "app:2"}, {"Deleted": image.id}]
    with pytest.raises(NotFound):
        store.get(image.id)
    assert not store.blobs.has(image.layers[0].digest)
    assert not store.blobs.has(image.manifest_digest)
    assert store.list() == []


def test_remove_by_id_needs_force_when_several_repositories_use_it(store):
    image = store.add_image([layer("a")], CONFIG, tags=["app:1", "other:1"])

    with pytest.raises(Conflict, match="must be forced"):
        store.remove(image.id)

    report = store.remove(image.id, force=True)
    assert {"Deleted": image.id} in report
    assert {"Untagged": "other:1"} in report


def test_remove_keeps_blobs_and_snapshots_other_images_share(store):
    base = make_tar({"name": "base", "data": b"shared"})
    first = store.add_image([io.BytesIO(base)], CONFIG, tags=["first"])
    second = store.add_image([io.BytesIO(base), layer("top")], CONFIG, tags=["second"])
    shared_snapshot = store.snapshots.dirs(second)[-1]

    store.remove("first")

    assert store.blobs.has(first.layers[0].digest)
    assert shared_snapshot.is_dir()
    assert [i.id for i in store.list()] == [second.id]


def test_snapshots_unpack_each_layer_once_top_first(store, monkeypatch):
    image = store.add_image([layer("bottom"), layer("top")], CONFIG)
    calls = []
    real_apply = snapshots_module.apply_layer
    monkeypatch.setattr(
        snapshots_module,
        "apply_layer",
        lambda tar, target: calls.append(tar) or real_apply(tar, target),
    )
    results = []
    threads = [
        threading.Thread(target=lambda: results.append(store.snapshots.dirs(image)))
        for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert len(calls) == 2
    dirs = results[0]
    assert all(r == dirs for r in results)
    chains = chain_ids([x.diff_id for x in image.layers])
    assert [d.name for d in dirs] == [c.removeprefix("sha256:") for c in reversed(chains)]
    assert (dirs[0] / "top").exists() and (dirs[1] / "bottom").exists()
    assert not [p for p in store.paths.snapshots.iterdir() if p.name.startswith(".unpack")]


def test_history_has_one_row_per_config_entry_newest_first(store):
    config = dict(
        CONFIG,
        history=[
            {"created": "2024-01-02T03:04:05.123456789Z", "created_by": "ADD rootfs"},
            {"created": "2024-01-03T00:00:00Z", "created_by": "ENV A=b", "empty_layer": True},
            {"created": "2024-01-04T00:00:00Z", "created_by": "RUN make", "comment": "build"},
        ],
    )
    image = store.add_image([layer("a", b"1" * 3000), layer("b", b"2")], config, tags=["h"])

    rows = store.history(image)

    assert [r["CreatedBy"] for r in rows] == ["RUN make", "ENV A=b", "ADD rootfs"]
    assert rows[0]["Id"] == image.id and rows[0]["Tags"] == ["h:latest"]
    assert rows[1]["Id"] == "<missing>" and rows[1]["Size"] == 0
    assert rows[0]["Size"] == image.layers[1].unpacked_size
    assert rows[2]["Size"] == image.layers[0].unpacked_size
    assert rows[2]["Created"] == 1704164645
    assert rows[0]["Comment"] == "build"


def test_add_from_blobs_verifies_and_records(store, runtime_paths):
    image = store.add_image([layer("a", compression="zstd")], CONFIG)
    manifest = store.blobs.read(image.manifest_digest)
    store.remove(image.id)
    other = ImageStore(runtime_paths)
    other.blobs.put(canonical_json(image.config), expected_digest=image.id)
    other.add_layer(layer("a", compression="zstd"))

    loaded = other.add_from_blobs(manifest, tags=["loaded"])

    assert loaded.id == image.id
    assert loaded.manifest_digest == image.manifest_digest
    assert other.get("loaded").layers[0].media_type.endswith("tar+zstd")


def test_add_from_blobs_rejects_a_layer_that_does_not_match_its_diff_id(store):
    image = store.add_image([layer("a")], CONFIG)
    config = dict(image.config, rootfs={"type": "layers", "diff_ids": ["sha256:" + "0" * 64]})
    config_desc = store.blobs.put(json.dumps(config).encode())
    manifest = json.loads(store.blobs.read(image.manifest_digest))
    manifest["config"] = config_desc.to_oci()

    with pytest.raises(DigestMismatch, match="unpacks to"):
        store.add_from_blobs(json.dumps(manifest).encode())


def test_add_from_blobs_needs_every_blob(store):
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "x", "digest": "sha256:" + "1" * 64, "size": 2},
        "layers": [],
    }

    with pytest.raises(NotFound):
        store.add_from_blobs(json.dumps(manifest).encode())


def test_the_store_survives_a_new_instance(store, runtime_paths):
    image = store.add_image([layer("a")], CONFIG, tags=["keep"])

    again = ImageStore(runtime_paths)

    assert again.get("keep").id == image.id
    assert os.path.isfile(again.blobs.path(image.id))


def test_a_tag_wins_over_an_id_prefix_like_docker(store):
    image = store.add_image([layer("a")], CONFIG)
    prefix = image.id.removeprefix("sha256:")[:6]
    other = store.add_image([layer("b")], CONFIG, tags=[prefix])

    assert store.get(prefix).id == other.id
    assert store.get(f"sha256:{prefix}").id == image.id
