"""`docker load`, `docker save` and `docker import`: image archives in and out.

Loading spools the archive (decompressed, size-capped) to a file so its members can be read
in any order (a docker-archive lists its manifest last). Members are only ever read, never
extracted (runtime.images.archive_members): every blob goes through the blob store's digest
check and every image through `ImageStore.add_from_blobs`. Saving spools the archive that
runtime.images.archive_save writes, so a failure comes before any byte is sent.
"""

import json
import tarfile
import tempfile
import time
from collections.abc import Iterator
from typing import BinaryIO

from runtime.errors import InvalidInput
from runtime.images.archive_members import (
    CHUNK,
    DEFAULT_MAX_ARCHIVE,
    MAX_MANIFEST,
    CappedReader,
    check_layer,
    read_json,
    read_member,
    safe_members,
)
from runtime.images.archive_names import docker_tags, oci_tags
from runtime.images.archive_save import save_archive
from runtime.images.model import Image
from runtime.images.oci import DOCKER_CONFIG, OCI_CONFIG, OCI_MANIFEST, canonical_json
from runtime.images.store import ImageStore
from runtime.layers.compression import open_uncompressed
from runtime.store.blobs import check_digest

MAX_CONFIG = 8 * 1024 * 1024


def load_archive(
    store: ImageStore, stream: BinaryIO, max_bytes: int = DEFAULT_MAX_ARCHIVE
) -> list[Image]:
    """Load every image in the archive on `stream`, tagged as the archive says."""
    with tempfile.TemporaryFile(dir=store.paths.tmp) as spool:
        source = CappedReader(open_uncompressed(stream), max_bytes, "image archive")
        while chunk := source.read(CHUNK):
            spool.write(chunk)
        spool.seek(0)
        try:
            with tarfile.open(fileobj=spool, mode="r:") as tar:
                members = safe_members(tar)
                if "manifest.json" in members:
                    return _load_docker(store, tar, members, max_bytes)
                if "index.json" in members:
                    return _load_oci(store, tar, members, max_bytes)
        except tarfile.TarError as err:
            raise InvalidInput(f"invalid image archive: {err}") from None
    raise InvalidInput("not an image archive: it has neither manifest.json nor index.json")


def _load_docker(
    store: ImageStore, tar: tarfile.TarFile, members: dict, max_bytes: int
) -> list[Image]:
    entries = read_json(tar, members, "manifest.json")
    if not isinstance(entries, list):
        raise InvalidInput("image archive has an invalid 'manifest.json'")
    images = []
    for entry in entries:
        config_data = read_member(tar, members, entry["Config"]).read(MAX_CONFIG + 1)
        if len(config_data) > MAX_CONFIG:
            raise InvalidInput(f"image config is larger than {MAX_CONFIG} bytes")
        config = store.blobs.put(config_data, media_type=DOCKER_CONFIG)
        layers = []
        for path in entry["Layers"]:
            check_layer(read_member(tar, members, path), max_bytes)
            layers.append(store.add_layer(read_member(tar, members, path)))
        manifest = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": config.digest, "size": config.size},
            "layers": [
                {"mediaType": x.media_type, "digest": x.digest, "size": x.size} for x in layers
            ],
        }
        images.append(store.add_from_blobs(canonical_json(manifest), docker_tags(entry)))
    return images


def _load_oci(
    store: ImageStore, tar: tarfile.TarFile, members: dict, max_bytes: int
) -> list[Image]:
    images = []
    for item in read_json(tar, members, "index.json").get("manifests", []):
        if item.get("mediaType") != OCI_MANIFEST:
            raise InvalidInput(f"unsupported manifest type in archive: {item.get('mediaType')}")
        if item.get("size", 0) > MAX_MANIFEST:
            raise InvalidInput(f"image manifest is larger than {MAX_MANIFEST} bytes")
        _put_blob(store, tar, members, item["digest"])
        manifest_bytes = store.blobs.read(item["digest"])
        try:
            manifest = json.loads(manifest_bytes)
        except ValueError:
            raise InvalidInput("image archive holds an invalid manifest") from None
        if manifest.get("config", {}).get("size", 0) > MAX_CONFIG:
            raise InvalidInput(f"image config is larger than {MAX_CONFIG} bytes")
        _put_blob(store, tar, members, manifest["config"]["digest"])
        for ref in manifest["layers"]:
            existed = store.blobs.has(ref["digest"])
            _put_blob(store, tar, members, ref["digest"])
            try:
                with store.blobs.open(ref["digest"]) as f:
                    check_layer(f, max_bytes, ref.get("mediaType"))
            except InvalidInput:
                if not existed:
                    store.blobs.delete(ref["digest"])
                raise
        images.append(store.add_from_blobs(manifest_bytes, oci_tags(item)))
    return images


def _blob(tar: tarfile.TarFile, members: dict, digest: str) -> BinaryIO:
    return read_member(tar, members, f"blobs/sha256/{check_digest(digest)}")


def _put_blob(store: ImageStore, tar: tarfile.TarFile, members: dict, digest: str) -> None:
    store.blobs.put(_blob(tar, members, digest), expected_digest=digest)


def save_chunks(store: ImageStore, names: list[str]) -> Iterator[bytes]:
    """`save_archive` as a stream of chunks, spooled so a failure comes before any byte."""
    spool = tempfile.TemporaryFile(dir=store.paths.tmp)  # noqa: SIM115 (closed by chunks())
    try:
        save_archive(store, names, spool)
    except BaseException:
        spool.close()
        raise

    def chunks() -> Iterator[bytes]:
        with spool:
            spool.seek(0)
            while chunk := spool.read(CHUNK):
                yield chunk

    return chunks()


def import_rootfs(
    store: ImageStore,
    stream: BinaryIO,
    config: dict,
    message: str = "",
    tags: list[str] | tuple = (),
    max_bytes: int = DEFAULT_MAX_ARCHIVE,
) -> Image:
    """`docker import`: a filesystem tar (plain or compressed) becomes a one-layer image."""
    with tempfile.NamedTemporaryFile(dir=store.paths.tmp) as spool:
        source = CappedReader(open_uncompressed(stream), max_bytes, "imported archive")
        while chunk := source.read(CHUNK):
            spool.write(chunk)
        spool.flush()
        spool.seek(0)
        try:
            with tarfile.open(fileobj=spool, mode="r:") as tar:
                for member in tar:
                    parts = [p for p in member.name.split("/") if p not in ("", ".")]
                    if ".." in parts:
                        raise InvalidInput(f"refusing archive entry {member.name!r}: has '..'")
        except tarfile.TarError as err:
            raise InvalidInput(f"invalid archive to import: {err}") from None
        spool.seek(0)
        layer = store.add_layer(spool)
    created = time.strftime("%Y-%m-%dT%H:%M:%S.000000000Z", time.gmtime())
    config = {**config, "created": created}
    entry = {"created": created, "created_by": "", "comment": message or "Imported from -"}
    config["history"] = [entry]
    return store.add_image_from_layers([layer], config, list(tags))
