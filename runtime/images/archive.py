"""`docker load`: image archives in docker-archive (`docker save`) or OCI layout form.

The archive is spooled to a file so its members can be read in any order (a
docker-archive lists its manifest last). Members are only ever read, never extracted:
every blob goes through the blob store's digest check and every image through
`ImageStore.add_from_blobs`.
"""

import json
import shutil
import tarfile
import tempfile
from typing import BinaryIO

from runtime.errors import InvalidInput
from runtime.images.model import Image
from runtime.images.reference import parse_reference
from runtime.images.store import (
    DOCKER_CONFIG,
    OCI_CONFIG,
    OCI_MANIFEST,
    ImageStore,
    canonical_json,
)
from runtime.store.blobs import check_digest

_REF_NAME = "org.opencontainers.image.ref.name"
_CONTAINERD_NAME = "io.containerd.image.name"


def load_archive(store: ImageStore, stream: BinaryIO) -> list[Image]:
    """Load every image in the archive on `stream`, tagged as the archive says."""
    with tempfile.TemporaryFile(dir=store.paths.tmp) as spool:
        shutil.copyfileobj(stream, spool)
        spool.seek(0)
        try:
            with tarfile.open(fileobj=spool, mode="r:*") as tar:
                members = {_clean(m.name): m for m in tar.getmembers() if m.isreg()}
                if "manifest.json" in members:
                    return _load_docker(store, tar, members)
                if "index.json" in members:
                    return _load_oci(store, tar, members)
        except tarfile.TarError as err:
            raise InvalidInput(f"invalid image archive: {err}") from None
    raise InvalidInput("not an image archive: it has neither manifest.json nor index.json")


def _clean(name: str) -> str:
    return "/".join(p for p in name.split("/") if p not in ("", "."))


def _read(tar: tarfile.TarFile, members: dict, name: str) -> BinaryIO:
    member = members.get(_clean(name))
    if member is None:
        raise InvalidInput(f"image archive is missing {name!r}")
    return tar.extractfile(member)


def _json(tar: tarfile.TarFile, members: dict, name: str):
    try:
        return json.loads(_read(tar, members, name).read())
    except ValueError:
        raise InvalidInput(f"image archive has an invalid {name!r}") from None


def _load_docker(store: ImageStore, tar: tarfile.TarFile, members: dict) -> list[Image]:
    images = []
    for entry in _json(tar, members, "manifest.json"):
        config = store.blobs.put(_read(tar, members, entry["Config"]), media_type=DOCKER_CONFIG)
        layers = [store.add_layer(_read(tar, members, path)) for path in entry["Layers"]]
        manifest = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": config.digest, "size": config.size},
            "layers": [
                {"mediaType": x.media_type, "digest": x.digest, "size": x.size} for x in layers
            ],
        }
        tags = [str(parse_reference(t)) for t in entry.get("RepoTags") or []]
        images.append(store.add_from_blobs(canonical_json(manifest), tags))
    return images


def _load_oci(store: ImageStore, tar: tarfile.TarFile, members: dict) -> list[Image]:
    images = []
    for item in _json(tar, members, "index.json").get("manifests", []):
        if item.get("mediaType") != OCI_MANIFEST:
            raise InvalidInput(f"unsupported manifest type in archive: {item.get('mediaType')}")
        _put_blob(store, tar, members, item["digest"])
        manifest_bytes = store.blobs.read(item["digest"])
        manifest = json.loads(manifest_bytes)
        for ref in [manifest["config"], *manifest["layers"]]:
            _put_blob(store, tar, members, ref["digest"])
        annotations = item.get("annotations") or {}
        name = annotations.get(_CONTAINERD_NAME) or annotations.get(_REF_NAME, "")
        tags = [str(parse_reference(name))] if ":" in name or "/" in name else []
        images.append(store.add_from_blobs(manifest_bytes, tags))
    return images


def _put_blob(store: ImageStore, tar: tarfile.TarFile, members: dict, digest: str) -> None:
    stream = _read(tar, members, f"blobs/sha256/{check_digest(digest)}")
    store.blobs.put(stream, expected_digest=digest)
