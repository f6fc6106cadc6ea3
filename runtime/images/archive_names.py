"""The names an image archive gives its images, in docker-archive (RepoTags) and OCI layout
(annotations) form, read before a load and written by a save."""

import json
import tarfile
from typing import BinaryIO

from runtime.errors import InvalidInput
from runtime.images.archive_members import (
    DEFAULT_MAX_ARCHIVE,
    MAX_MANIFEST,
    CappedReader,
    clean,
)
from runtime.images.reference import parse_reference
from runtime.layers.compression import open_uncompressed

REF_NAME = "org.opencontainers.image.ref.name"
CONTAINERD_NAME = "io.containerd.image.name"


def docker_tags(entry: dict) -> list[str]:
    return [str(parse_reference(t)) for t in entry.get("RepoTags") or []]


def oci_tags(item: dict) -> list[str]:
    annotations = item.get("annotations") or {}
    name = annotations.get(CONTAINERD_NAME) or annotations.get(REF_NAME, "")
    return [str(parse_reference(name))] if ":" in name or "/" in name else []


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
                name = clean(member.name)
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
            return [t for entry in doc for t in docker_tags(entry)]
        return [t for item in doc.get("manifests", []) for t in oci_tags(item)]
    except (ValueError, TypeError, AttributeError):
        raise InvalidInput(f"image archive has an invalid {which!r}") from None


def familiar(ref: str) -> str:
    parsed = parse_reference(ref)
    return f"{parsed.name}:{parsed.tag}"


def official(path: str) -> str:
    return path if "/" in path else f"library/{path}"
