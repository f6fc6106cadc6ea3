"""Parsing pushed manifests: Docker schema 2 and its list, OCI image manifest and index."""

import json
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import RegistryError

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
IMAGE_TYPES = frozenset({DOCKER_MANIFEST, OCI_MANIFEST})
INDEX_TYPES = frozenset({DOCKER_LIST, OCI_INDEX})
MAX_MANIFEST = 4 * 1024 * 1024
_DIGEST = r"^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$"


class Descriptor(BaseModel):
    model_config = ConfigDict(extra="allow")

    mediaType: str
    digest: str = Field(pattern=_DIGEST)
    size: int = Field(ge=0)
    urls: list[str] | None = None
    annotations: dict[str, str] | None = None
    artifactType: str | None = None

    @property
    def is_foreign(self) -> bool:
        """Layers that clients fetch from `urls` elsewhere and never push here."""
        return (
            bool(self.urls) or "nondistributable" in self.mediaType or ("foreign" in self.mediaType)
        )


class _Base(BaseModel):
    model_config = ConfigDict(extra="allow")

    schemaVersion: Literal[2]
    mediaType: str | None = None
    artifactType: str | None = None
    subject: Descriptor | None = None
    annotations: dict[str, str] | None = None


class ImageManifest(_Base):
    config: Descriptor
    layers: list[Descriptor]


class ImageIndex(_Base):
    manifests: list[Descriptor]


@dataclass(frozen=True)
class ParsedManifest:
    media_type: str
    blobs: list[Descriptor] = field(default_factory=list)
    children: list[Descriptor] = field(default_factory=list)
    subject_digest: str = ""
    artifact_type: str = ""
    annotations: dict[str, str] = field(default_factory=dict)


def _invalid(message: str, detail: object = None) -> RegistryError:
    return RegistryError("MANIFEST_INVALID", message, detail)


def parse(content: bytes, content_type: str) -> ParsedManifest:
    """Validate a manifest body against the media type it was pushed with."""
    try:
        body = json.loads(content)
    except (UnicodeDecodeError, ValueError):
        raise _invalid("manifest is not valid JSON") from None
    if not isinstance(body, dict):
        raise _invalid("manifest must be a JSON object")
    declared = body.get("mediaType")
    header = content_type.split(";", 1)[0].strip().lower()
    if header in ("", "application/json", "application/octet-stream"):
        header = ""
    if header and isinstance(declared, str) and declared != header:
        raise _invalid(
            "manifest mediaType does not match Content-Type",
            {"mediaType": declared, "contentType": header},
        )
    media_type = header or declared or (OCI_INDEX if "manifests" in body else OCI_MANIFEST)
    if media_type not in IMAGE_TYPES | INDEX_TYPES:
        raise _invalid("unsupported manifest media type", {"mediaType": str(media_type)[:255]})
    model = ImageManifest if media_type in IMAGE_TYPES else ImageIndex
    try:
        doc = model.model_validate(body)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "manifest"
        raise _invalid(f"invalid manifest: {where}: {first['msg']}") from None
    subject = doc.subject.digest if doc.subject else ""
    annotations = doc.annotations or {}
    if isinstance(doc, ImageManifest):
        return ParsedManifest(
            media_type=media_type,
            blobs=[d for d in [doc.config, *doc.layers] if not d.is_foreign],
            subject_digest=subject,
            artifact_type=doc.artifactType or doc.config.mediaType,
            annotations=annotations,
        )
    return ParsedManifest(
        media_type=media_type,
        children=list(doc.manifests),
        subject_digest=subject,
        artifact_type=doc.artifactType or "",
        annotations=annotations,
    )
