"""`docker save`: one archive holding both forms, as Docker 25 writes it: an OCI image layout
(oci-layout, index.json, blobs/sha256/) plus `manifest.json` and `repositories` pointing
into the same blobs, so Docker, skopeo and containerd all read it."""

import io
import json
import tarfile
import time
from typing import BinaryIO

from runtime.errors import InvalidInput
from runtime.images.archive_names import CONTAINERD_NAME, REF_NAME, familiar, official
from runtime.images.model import Image
from runtime.images.oci import OCI_MANIFEST
from runtime.images.reference import parse_reference
from runtime.images.store import ImageStore
from runtime.store.blobs import check_digest


def _selection(store: ImageStore, names: list[str]) -> list[tuple[Image, list[str]]]:
    """The images to save, each once, with the tags asked for (none when named by id)."""
    chosen: dict[str, tuple[Image, list[str]]] = {}
    for name in names:
        image = store.get(name)
        image_tags = chosen.setdefault(image.id, (image, []))[1]
        try:
            tag = familiar(name)
        except InvalidInput:
            tag = ""
        if tag and tag in image.tags and tag not in image_tags:
            image_tags.append(tag)
    return list(chosen.values())


def save_archive(store: ImageStore, names: list[str], out: BinaryIO) -> None:
    """Write the images `names` resolve to as one archive (OCI layout + docker-archive)."""
    selection = _selection(store, names)
    now = int(time.time())
    written: set[str] = set()
    index: list[dict] = []
    docker_manifest: list[dict] = []
    repositories: dict[str, dict[str, str]] = {}
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for directory in ("blobs", "blobs/sha256"):
            info = tarfile.TarInfo(directory)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, now
            tar.addfile(info)

        def blob(digest: str) -> str:
            name = f"blobs/sha256/{check_digest(digest)}"
            if digest not in written:
                written.add(digest)
                info = tarfile.TarInfo(name)
                info.size, info.mode, info.mtime = store.blobs.size(digest), 0o644, now
                with store.blobs.open(digest) as f:
                    tar.addfile(info, f)
            return name

        for image, tags in selection:
            blob(image.manifest_digest)
            config_path = blob(image.id)
            layer_paths = [blob(layer.digest) for layer in image.layers]
            descriptor = {
                "mediaType": OCI_MANIFEST,
                "digest": image.manifest_digest,
                "size": store.blobs.size(image.manifest_digest),
            }
            for tag in tags or [""]:
                item = dict(descriptor)
                if tag:
                    ref = parse_reference(tag)
                    full = tag if ref.domain else f"docker.io/{official(ref.path)}:{ref.tag}"
                    item["annotations"] = {CONTAINERD_NAME: full, REF_NAME: ref.tag}
                    top = image.layers[-1].digest if image.layers else image.id
                    repositories.setdefault(ref.name, {})[ref.tag] = top.removeprefix("sha256:")
                index.append(item)
            docker_manifest.append(
                {"Config": config_path, "RepoTags": tags or None, "Layers": layer_paths}
            )
        _add_bytes(tar, "oci-layout", b'{"imageLayoutVersion":"1.0.0"}', now)
        index_doc = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json"}
        index_doc["manifests"] = index
        _add_bytes(tar, "index.json", json.dumps(index_doc).encode(), now)
        _add_bytes(tar, "manifest.json", json.dumps(docker_manifest).encode(), now)
        if repositories:
            _add_bytes(tar, "repositories", json.dumps(repositories).encode(), now)


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes, mtime: int) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o644, mtime
    tar.addfile(info, io.BytesIO(data))
