"""`docker load` and `docker save`: image archives in docker-archive and OCI layout form.

Loading spools the archive (decompressed, size-capped) to a file so its members can be read
in any order (a docker-archive lists its manifest last). Members are only ever read, never
extracted: every blob goes through the blob store's digest check and every image through
`ImageStore.add_from_blobs`. Saving writes one archive holding both forms, as Docker 25 does:
an OCI image layout (oci-layout, index.json, blobs/sha256/) plus `manifest.json` and
`repositories` pointing into the same blobs, so Docker, skopeo and containerd all read it.
"""

import io
import json
import os
import tarfile
import tempfile
import time
from collections.abc import Iterator
from typing import BinaryIO

from runtime.errors import InvalidInput
from runtime.images.model import Image
from runtime.images.oci import DOCKER_CONFIG, OCI_CONFIG, OCI_MANIFEST, canonical_json
from runtime.images.reference import parse_reference
from runtime.images.store import ImageStore
from runtime.layers.compression import (
    DOCKER_TAR_GZIP,
    TAR,
    TAR_GZIP,
    TAR_ZSTD,
    open_uncompressed,
    sniff_media_type,
)
from runtime.store.blobs import check_digest

_REF_NAME = "org.opencontainers.image.ref.name"
_CONTAINERD_NAME = "io.containerd.image.name"
DEFAULT_MAX_ARCHIVE = 10 * 1024**3
MAX_MANIFEST = 4 * 1024 * 1024
MAX_CONFIG = 8 * 1024 * 1024
_CHUNK = 1 << 20
_MAX_LINK_HOPS = 8
_COMPRESSION_OF = {TAR: TAR, TAR_GZIP: TAR_GZIP, DOCKER_TAR_GZIP: TAR_GZIP, TAR_ZSTD: TAR_ZSTD}


class CappedReader:
    """A stream that refuses to give more than `limit` bytes (decompression bombs)."""

    def __init__(self, stream: BinaryIO, limit: int, what: str) -> None:
        self.stream = stream
        self.limit = limit
        self.what = what
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(size if size is not None and size >= 0 else _CHUNK)
        self.count += len(data)
        if self.count > self.limit:
            raise InvalidInput(f"{self.what} is larger than the limit of {self.limit} bytes")
        return data

    def readable(self) -> bool:
        return True


def load_archive(
    store: ImageStore, stream: BinaryIO, max_bytes: int = DEFAULT_MAX_ARCHIVE
) -> list[Image]:
    """Load every image in the archive on `stream`, tagged as the archive says."""
    with tempfile.TemporaryFile(dir=store.paths.tmp) as spool:
        source = CappedReader(open_uncompressed(stream), max_bytes, "image archive")
        while chunk := source.read(_CHUNK):
            spool.write(chunk)
        spool.seek(0)
        try:
            with tarfile.open(fileobj=spool, mode="r:") as tar:
                members = _members(tar)
                if "manifest.json" in members:
                    return _load_docker(store, tar, members, max_bytes)
                if "index.json" in members:
                    return _load_oci(store, tar, members, max_bytes)
        except tarfile.TarError as err:
            raise InvalidInput(f"invalid image archive: {err}") from None
    raise InvalidInput("not an image archive: it has neither manifest.json nor index.json")


def _members(tar: tarfile.TarFile) -> dict[str, tarfile.TarInfo]:
    found = {}
    for member in tar.getmembers():
        name = _clean(member.name)
        if member.name.startswith("/") or ".." in name.split("/"):
            raise InvalidInput(f"image archive entry {member.name!r} points outside the archive")
        if member.issym() or member.islnk():
            target = member.linkname
            if member.issym():
                target = os.path.join(os.path.dirname(name), target)
            if target.startswith("/") or os.path.normpath(target).startswith(".."):
                raise InvalidInput(f"image archive entry {member.name!r} links outside the archive")
        if member.isreg() or member.issym() or member.islnk():
            found[name] = member
    return found


def _clean(name: str) -> str:
    return "/".join(p for p in name.split("/") if p not in ("", "."))


def _read(tar: tarfile.TarFile, members: dict, name: str) -> BinaryIO:
    """A member's content; links inside the archive (older `docker save`) are followed."""
    wanted = _clean(name)
    if ".." in wanted.split("/"):
        raise InvalidInput(f"image archive names {name!r}, outside the archive")
    for _ in range(_MAX_LINK_HOPS):
        member = members.get(wanted)
        if member is None:
            raise InvalidInput(f"image archive is missing {name!r}")
        if member.isreg():
            return tar.extractfile(member)
        if member.islnk():
            wanted = _clean(member.linkname)
        else:
            wanted = _clean(
                os.path.normpath(os.path.join(os.path.dirname(wanted), member.linkname))
            )
    raise InvalidInput(f"image archive entry {name!r} has too many links")


def _json(tar: tarfile.TarFile, members: dict, name: str, limit: int = MAX_MANIFEST):
    data = _read(tar, members, name).read(limit + 1)
    if len(data) > limit:
        raise InvalidInput(f"image archive member {name!r} is larger than {limit} bytes")
    try:
        return json.loads(data)
    except ValueError:
        raise InvalidInput(f"image archive has an invalid {name!r}") from None


def _check_layer(stream: BinaryIO, max_bytes: int, declared: str | None = None) -> None:
    """Refuse a layer whose compression lies about its media type or that unpacks too big."""
    head = stream.read(4)
    if declared is not None and _COMPRESSION_OF.get(declared) != sniff_media_type(head):
        raise InvalidInput(
            f"layer declared as {declared} is {sniff_media_type(head)}: refusing a lying media type"
        )
    stream.seek(0)
    capped = CappedReader(open_uncompressed(stream), max_bytes, "unpacked layer")
    try:
        while capped.read(_CHUNK):
            pass
    except (OSError, EOFError) as err:
        raise InvalidInput(f"layer cannot be decompressed: {err}") from None


def _load_docker(
    store: ImageStore, tar: tarfile.TarFile, members: dict, max_bytes: int
) -> list[Image]:
    entries = _json(tar, members, "manifest.json")
    if not isinstance(entries, list):
        raise InvalidInput("image archive has an invalid 'manifest.json'")
    images = []
    for entry in entries:
        config_data = _read(tar, members, entry["Config"]).read(MAX_CONFIG + 1)
        if len(config_data) > MAX_CONFIG:
            raise InvalidInput(f"image config is larger than {MAX_CONFIG} bytes")
        config = store.blobs.put(config_data, media_type=DOCKER_CONFIG)
        layers = []
        for path in entry["Layers"]:
            _check_layer(_read(tar, members, path), max_bytes)
            layers.append(store.add_layer(_read(tar, members, path)))
        manifest = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": config.digest, "size": config.size},
            "layers": [
                {"mediaType": x.media_type, "digest": x.digest, "size": x.size} for x in layers
            ],
        }
        images.append(store.add_from_blobs(canonical_json(manifest), _docker_tags(entry)))
    return images


def _docker_tags(entry: dict) -> list[str]:
    return [str(parse_reference(t)) for t in entry.get("RepoTags") or []]


def _oci_tags(item: dict) -> list[str]:
    annotations = item.get("annotations") or {}
    name = annotations.get(_CONTAINERD_NAME) or annotations.get(_REF_NAME, "")
    return [str(parse_reference(name))] if ":" in name or "/" in name else []


def _load_oci(
    store: ImageStore, tar: tarfile.TarFile, members: dict, max_bytes: int
) -> list[Image]:
    images = []
    for item in _json(tar, members, "index.json").get("manifests", []):
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
                    _check_layer(f, max_bytes, ref.get("mediaType"))
            except InvalidInput:
                if not existed:
                    store.blobs.delete(ref["digest"])
                raise
        images.append(store.add_from_blobs(manifest_bytes, _oci_tags(item)))
    return images


def archive_tags(stream: BinaryIO, max_bytes: int = DEFAULT_MAX_ARCHIVE) -> list[str]:
    """The names `load_archive` would give the images on `stream`, read in one pass and
    without storing anything, so that a caller can refuse names before a load.

    It reads what the loader reads: the last manifest.json (else index.json) entry of the
    archive. One that is a link is refused rather than followed: following it needs the
    whole archive at hand, and `docker save` never writes one.
    """
    documents: dict[str, bytes | None] = {}
    try:
        source = CappedReader(open_uncompressed(stream), max_bytes, "image archive")
        with tarfile.open(fileobj=source, mode="r|") as tar:
            for member in tar:
                name = _clean(member.name)
                if name not in ("manifest.json", "index.json"):
                    continue
                if member.isreg():
                    data = tar.extractfile(member).read(MAX_MANIFEST + 1)
                    if len(data) > MAX_MANIFEST:
                        raise InvalidInput(f"image archive's {name!r} is too large")
                    documents[name] = data
                elif member.issym() or member.islnk():
                    documents[name] = None
    except (tarfile.TarError, OSError, EOFError) as err:
        raise InvalidInput(f"invalid image archive: {err}") from None
    which = "manifest.json" if "manifest.json" in documents else "index.json"
    if which not in documents:
        raise InvalidInput("not an image archive: it has neither manifest.json nor index.json")
    data = documents[which]
    if data is None:
        raise InvalidInput(f"image archive's {which!r} is a link; refusing to follow it")
    try:
        doc = json.loads(data)
        if which == "manifest.json":
            return [t for entry in doc for t in _docker_tags(entry)]
        return [t for item in doc.get("manifests", []) for t in _oci_tags(item)]
    except (ValueError, TypeError, AttributeError):
        raise InvalidInput(f"image archive has an invalid {which!r}") from None


def _blob(tar: tarfile.TarFile, members: dict, digest: str) -> BinaryIO:
    return _read(tar, members, f"blobs/sha256/{check_digest(digest)}")


def _put_blob(store: ImageStore, tar: tarfile.TarFile, members: dict, digest: str) -> None:
    store.blobs.put(_blob(tar, members, digest), expected_digest=digest)


# --- saving -------------------------------------------------------------------------------


def _familiar(ref: str) -> str:
    parsed = parse_reference(ref)
    return f"{parsed.name}:{parsed.tag}"


def _selection(store: ImageStore, names: list[str]) -> list[tuple[Image, list[str]]]:
    """The images to save, each once, with the tags asked for (none when named by id)."""
    chosen: dict[str, tuple[Image, list[str]]] = {}
    for name in names:
        image = store.get(name)
        image_tags = chosen.setdefault(image.id, (image, []))[1]
        try:
            tag = _familiar(name)
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
                    full = tag if ref.domain else f"docker.io/{_official(ref.path)}:{ref.tag}"
                    item["annotations"] = {_CONTAINERD_NAME: full, _REF_NAME: ref.tag}
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


def _official(path: str) -> str:
    return path if "/" in path else f"library/{path}"


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes, mtime: int) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o644, mtime
    tar.addfile(info, io.BytesIO(data))


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
            while chunk := spool.read(_CHUNK):
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
        while chunk := source.read(_CHUNK):
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
