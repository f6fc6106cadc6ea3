"""Local images: OCI manifests and configs in the blob store, tags and records beside them.

`images/<config hex>.json` records an image (its manifest digest and unpacked layer
sizes); `images/tags.json` maps familiar references to image ids. A lock file serialises
changes between the processes of a node; each file is replaced atomically.
"""

from __future__ import annotations

import copy
import fcntl
import json
import platform
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from runtime.errors import Conflict, DigestMismatch, InvalidInput, NotFound
from runtime.files import write_json_atomic
from runtime.images.model import Image, LayerInfo
from runtime.images.oci import (
    DOCKER_MANIFEST,
    OCI_CONFIG,
    OCI_MANIFEST,
    canonical_json,
    chain_ids,
    measure,
    now_rfc3339,
    unix_time,
)
from runtime.images.reference import parse_reference
from runtime.images.snapshots import Snapshots
from runtime.layers.compression import LAYER_MEDIA_TYPES, open_uncompressed, sniff_media_type
from runtime.paths import RuntimePaths
from runtime.store.blobs import BlobStore, Descriptor, check_digest

_HEX_PREFIX = re.compile(r"^[0-9a-f]{4,64}$")
_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le"}


class ImageStore:
    def __init__(self, paths: RuntimePaths) -> None:
        self.paths = paths
        self.blobs = BlobStore(paths)
        self.snapshots = Snapshots(paths, self.blobs)
        paths.images.mkdir(parents=True, exist_ok=True)
        self._tags_file = paths.images / "tags.json"

    # --- adding images ---------------------------------------------------------------

    def add_layer(self, layer: Path | BinaryIO) -> LayerInfo:
        """Store one layer tar (plain, gzip or zstd) as a blob and measure its content."""
        if isinstance(layer, Path | str):
            with open(layer, "rb") as f:
                desc = self.blobs.put(f)
        else:
            desc = self.blobs.put(layer)
        with self.blobs.open(desc.digest) as f:
            media_type = sniff_media_type(f.read(4))
            f.seek(0)
            diff_id, unpacked = measure(open_uncompressed(f))
        return LayerInfo(
            digest=desc.digest,
            diff_id=diff_id,
            size=desc.size,
            media_type=media_type,
            unpacked_size=unpacked,
        )

    def add_image(
        self, layers: list[Path | BinaryIO], config: dict, tags: Sequence[str] = ()
    ) -> Image:
        """Store layers and config as a new image (or the same one again) and tag it."""
        return self.add_image_from_layers([self.add_layer(x) for x in layers], config, tags)

    def add_image_from_layers(
        self, layers: list[LayerInfo], config: dict, tags: Sequence[str] = ()
    ) -> Image:
        """Record an image whose layers are already in the blob store."""
        config = copy.deepcopy(config)
        config.setdefault("architecture", _ARCH.get(platform.machine(), platform.machine()))
        config.setdefault("os", "linux")
        config.setdefault("config", {})
        config.setdefault("created", now_rfc3339())
        config.setdefault(
            "history", [{"created": config["created"], "created_by": ""} for _ in layers]
        )
        config["rootfs"] = {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]}
        config_desc = self.blobs.put(canonical_json(config), media_type=OCI_CONFIG)
        manifest = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": config_desc.to_oci(),
            "layers": [
                Descriptor(layer.media_type, layer.digest, layer.size).to_oci() for layer in layers
            ],
        }
        manifest_desc = self.blobs.put(canonical_json(manifest), media_type=OCI_MANIFEST)
        return self._record(config_desc.digest, manifest_desc.digest, layers, tags)

    def add_from_blobs(self, manifest: bytes, tags: Sequence[str] = ()) -> Image:
        """Record an image whose manifest, config and layers were put in the blob store."""
        try:
            doc = json.loads(manifest)
            config_ref = doc["config"]
            layer_refs = doc["layers"]
        except (ValueError, KeyError, TypeError):
            raise InvalidInput("invalid image manifest") from None
        if doc.get("mediaType", OCI_MANIFEST) not in (OCI_MANIFEST, DOCKER_MANIFEST):
            raise InvalidInput(f"unsupported manifest media type {doc.get('mediaType')!r}")
        self._verify_blob(config_ref)
        config = json.loads(self.blobs.read(config_ref["digest"]))
        diff_ids = config.get("rootfs", {}).get("diff_ids", [])
        if len(diff_ids) != len(layer_refs):
            raise InvalidInput("image config lists a different number of layers than manifest")
        layers = []
        for ref, diff_id in zip(layer_refs, diff_ids, strict=True):
            if ref.get("mediaType") not in LAYER_MEDIA_TYPES:
                raise InvalidInput(f"unsupported layer media type {ref.get('mediaType')!r}")
            self._verify_blob(ref)
            with self.blobs.open(ref["digest"]) as f:
                actual, unpacked = measure(open_uncompressed(f))
            if actual != diff_id:
                raise DigestMismatch(f"layer {ref['digest']} unpacks to {actual}, not {diff_id}")
            layers.append(
                LayerInfo(ref["digest"], diff_id, ref["size"], ref["mediaType"], unpacked)
            )
        manifest_desc = self.blobs.put(manifest, media_type=doc.get("mediaType", OCI_MANIFEST))
        return self._record(config_ref["digest"], manifest_desc.digest, layers, tags)

    def _verify_blob(self, ref: dict) -> None:
        digest = ref.get("digest", "")
        check_digest(digest)
        if not self.blobs.has(digest):
            raise NotFound(f"blob {digest} not found")
        with self.blobs.open(digest) as f:
            actual, _ = measure(f)
        if actual != digest:
            raise DigestMismatch(f"blob {digest} is corrupt")
        if self.blobs.size(digest) != ref.get("size"):
            raise InvalidInput(f"blob {digest} size differs from its descriptor")

    def _record(
        self, image_id: str, manifest_digest: str, layers: list[LayerInfo], tags: Sequence[str]
    ) -> Image:
        record = {
            "manifest_digest": manifest_digest,
            "unpacked_sizes": [layer.unpacked_size for layer in layers],
            "added": now_rfc3339(),
        }
        with self._lock():
            write_json_atomic(self._record_path(image_id), record)
            names = self._read_tags()
            for tag in tags:
                names[self._tag_name(tag)] = image_id
            write_json_atomic(self._tags_file, names)
            return self._load(image_id, names)

    # --- looking images up -----------------------------------------------------------

    def get(self, ref_or_id: str) -> Image:
        with self._lock(shared=True):
            names = self._read_tags()
            return self._load(self._resolve(ref_or_id, names), names)

    def list(self) -> list[Image]:
        with self._lock(shared=True):
            names = self._read_tags()
            return [self._load(image_id, names) for image_id in self._ids()]

    def _resolve(self, ref_or_id: str, names: dict[str, str]) -> str:
        """Docker's order: a tag or digest reference first, then a (short) image id."""
        text = ref_or_id.strip()
        hex_part = text.removeprefix("sha256:")
        ref = None
        if hex_part == text and len(text) != 64:
            try:
                ref = parse_reference(text)
            except InvalidInput:
                ref = None
        if ref is not None and ref.digest:
            for image_id in self._ids():
                record = json.loads(self._record_path(image_id).read_text())
                if record["manifest_digest"] == ref.digest:
                    return image_id
        elif ref is not None and str(ref) in names:
            return names[str(ref)]
        if _HEX_PREFIX.match(hex_part):
            ids = [i for i in self._ids() if i.removeprefix("sha256:").startswith(hex_part)]
            if len(ids) == 1:
                return ids[0]
            if len(ids) > 1:
                raise Conflict(f"image id prefix {hex_part!r} is ambiguous")
        raise NotFound(f"No such image: {ref or text}")

    def _load(self, image_id: str, names: dict[str, str]) -> Image:
        try:
            record = json.loads(self._record_path(image_id).read_text())
        except FileNotFoundError:
            raise NotFound(f"No such image: {image_id}") from None
        manifest = json.loads(self.blobs.read(record["manifest_digest"]))
        config = json.loads(self.blobs.read(image_id))
        layers = [
            LayerInfo(ref["digest"], diff_id, ref["size"], ref["mediaType"], unpacked)
            for ref, diff_id, unpacked in zip(
                manifest["layers"],
                config["rootfs"]["diff_ids"],
                record["unpacked_sizes"],
                strict=True,
            )
        ]
        return Image(
            id=image_id,
            manifest_digest=record["manifest_digest"],
            config=config,
            layers=layers,
            tags=sorted(name for name, target in names.items() if target == image_id),
            created=config.get("created", ""),
            size=sum(layer.unpacked_size for layer in layers),
        )

    def _ids(self) -> list[str]:
        return sorted(
            "sha256:" + p.stem for p in self.paths.images.glob("*.json") if p != self._tags_file
        )

    # --- tags and removal -------------------------------------------------------------

    def tag(self, image_id: str, ref: str) -> Image:
        """Point `ref` at the image; a tag held by another image moves here."""
        name = self._tag_name(ref)
        with self._lock():
            names = self._read_tags()
            target = self._resolve(image_id, names)
            names[name] = target
            write_json_atomic(self._tags_file, names)
            return self._load(target, names)

    def untag(self, ref: str) -> Image:
        """Remove one tag; returns the image it pointed to (the image itself stays)."""
        name = self._tag_name(ref)
        with self._lock():
            names = self._read_tags()
            if name not in names:
                raise NotFound(f"No such image: {name}")
            target = names.pop(name)
            write_json_atomic(self._tags_file, names)
            return self._load(target, names)

    def remove(self, image_id: str, force: bool = False) -> list[dict]:
        """`docker rmi`: untag a reference, delete the image once nothing names it.

        Given an id, an image tagged in several repositories is only removed with `force`.
        Returns Docker's report: `{"Untagged": ref}` and `{"Deleted": id}` items.
        """
        report: list[dict] = []
        with self._lock():
            names = self._read_tags()
            target = self._resolve(image_id, names)
            tags = sorted(n for n, t in names.items() if t == target)
            by_tag = _as_tag(image_id, names)
            if by_tag:
                names.pop(by_tag)
                report.append({"Untagged": by_tag})
                if len(tags) > 1:
                    write_json_atomic(self._tags_file, names)
                    return report
            else:
                repos = {t.rpartition(":")[0] for t in tags}
                if len(repos) > 1 and not force:
                    raise Conflict(
                        f"conflict: unable to delete {target.removeprefix('sha256:')[:12]} "
                        "(must be forced) - image is referenced in multiple repositories"
                    )
                for name in tags:
                    names.pop(name)
                    report.append({"Untagged": name})
            write_json_atomic(self._tags_file, names)
            self._delete(target)
            report.append({"Deleted": target})
        return report

    def _delete(self, image_id: str) -> None:
        image = self._load(image_id, {})
        self._record_path(image_id).unlink()
        others = [self._load(i, {}) for i in self._ids()]
        in_use = {i.id for i in others} | {i.manifest_digest for i in others}
        in_use |= {layer.digest for i in others for layer in i.layers}
        for digest in [image.id, image.manifest_digest] + [x.digest for x in image.layers]:
            if digest not in in_use:
                self.blobs.delete(digest)
        chains_in_use = {c for i in others for c in chain_ids(i.config["rootfs"]["diff_ids"])}
        for chain in chain_ids(image.config["rootfs"]["diff_ids"]):
            if chain not in chains_in_use:
                self.snapshots.remove(chain)

    # --- history and plumbing ---------------------------------------------------------

    def history(self, image: Image) -> list[dict]:
        """`docker history` rows, newest first."""
        sizes = iter(layer.unpacked_size for layer in image.layers)
        rows = []
        for item in image.config.get("history", []):
            empty = bool(item.get("empty_layer"))
            rows.append(
                {
                    "Id": "<missing>",
                    "Created": unix_time(item.get("created", "")),
                    "CreatedBy": item.get("created_by", ""),
                    "Tags": None,
                    "Size": 0 if empty else next(sizes, 0),
                    "Comment": item.get("comment", ""),
                }
            )
        rows.reverse()
        if rows:
            rows[0]["Id"] = image.id
            rows[0]["Tags"] = image.tags or None
        return rows

    def _record_path(self, image_id: str) -> Path:
        return self.paths.images / f"{check_digest(image_id)}.json"

    def _read_tags(self) -> dict[str, str]:
        try:
            return json.loads(self._tags_file.read_text())
        except FileNotFoundError:
            return {}

    @staticmethod
    def _tag_name(ref: str) -> str:
        parsed = parse_reference(ref)
        if parsed.digest:
            raise InvalidInput(f"refusing to create a tag with a digest reference: {ref}")
        return str(parsed)

    @contextmanager
    def _lock(self, shared: bool = False) -> Iterator[None]:
        with open(self.paths.images / ".lock", "a") as f:
            fcntl.flock(f, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
            yield


def _as_tag(text: str, names: dict[str, str]) -> str | None:
    """The tag `text` names, if it is a reference to an existing tag rather than an id."""
    try:
        name = str(parse_reference(text))
    except InvalidInput:
        return None
    return name if name in names else None
