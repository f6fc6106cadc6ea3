"""Manifests and tags: lookup, push with its checks, deletion, referrers."""

import hashlib

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from platformkit.prepared import PreparedLookup

from .. import manifests as manifest_format
from ..errors import RegistryError
from ..models import Blob, Manifest, Repository, Tag
from ..names import check_digest, check_tag, is_digest
from .repositories import require_repository

_MANIFEST_BY_DIGEST = PreparedLookup(
    lambda name, digest: Manifest.objects.filter(repository__name=name, digest=digest),
    name="\0name",
    digest="\0digest",
)
_MANIFEST_BY_TAG = PreparedLookup(
    lambda name, tag: Manifest.objects.filter(repository__name=name, tags__name=tag),
    name="\0name",
    tag="\0tag",
)


def get_manifest(name: str, reference: str) -> Manifest:
    """The manifest a tag or digest names in repository `name`; NAME_UNKNOWN or MANIFEST_UNKNOWN."""
    if is_digest(reference):
        manifest = _MANIFEST_BY_DIGEST.first(name=name, digest=check_digest(reference))
    else:
        manifest = _MANIFEST_BY_TAG.first(name=name, tag=check_tag(reference))
    if manifest is None:
        require_repository(name)
        raise RegistryError(
            "MANIFEST_UNKNOWN", "manifest unknown to registry", {"reference": reference}
        )
    return manifest


def do_put_manifest(
    repository: Repository,
    reference: str,
    content_type: str,
    content: bytes,
    pushed_by: AbstractBaseUser | None,
) -> Manifest:
    """Store a manifest after checking its digest, syntax and every blob it references."""
    if len(content) > manifest_format.MAX_MANIFEST:
        raise RegistryError(
            "SIZE_INVALID",
            "manifest is larger than 4 MiB",
            {"limit": manifest_format.MAX_MANIFEST},
            status=413,
        )
    digest = f"sha256:{hashlib.sha256(content).hexdigest()}"
    tag = None
    if is_digest(reference):
        if check_digest(reference) != digest:
            raise RegistryError(
                "DIGEST_INVALID",
                "manifest does not match the digest it was pushed by",
                {"expected": reference, "actual": digest},
            )
    else:
        tag = check_tag(reference)
    parsed = manifest_format.parse(content, content_type)
    blobs = []
    for descriptor in parsed.blobs:
        blob = Blob.objects.filter(digest=descriptor.digest, links__repository=repository).first()
        if blob is None:
            raise RegistryError(
                "MANIFEST_BLOB_UNKNOWN",
                "manifest references a blob unknown to this repository",
                {"digest": descriptor.digest},
            )
        if blob.size != descriptor.size:
            raise RegistryError(
                "MANIFEST_INVALID",
                "descriptor size does not match the blob",
                {"digest": descriptor.digest, "size": blob.size, "declared": descriptor.size},
            )
        blobs.append((blob, descriptor.mediaType))
    children = {d.digest for d in parsed.children}
    known = set(repository.manifests.filter(digest__in=children).values_list("digest", flat=True))
    if children - known:
        raise RegistryError(
            "MANIFEST_BLOB_UNKNOWN",
            "index references a manifest unknown to this repository",
            {"digest": sorted(children - known)[0]},
        )
    with transaction.atomic():
        manifest, _ = Manifest.objects.update_or_create(
            repository=repository,
            digest=digest,
            defaults={
                "media_type": parsed.media_type,
                "size": len(content),
                "content": content,
                "subject_digest": parsed.subject_digest,
                "artifact_type": parsed.artifact_type,
                "annotations": parsed.annotations,
                "pushed_by": pushed_by if pushed_by and pushed_by.is_authenticated else None,
                "pushed_at": timezone.now(),
            },
        )
        manifest.blobs.set([blob for blob, _ in blobs])
        for blob, media_type in blobs:
            if blob.media_type != media_type:
                Blob.objects.filter(pk=blob.pk).update(media_type=media_type)
        if tag is not None:
            Tag.objects.update_or_create(
                repository=repository,
                name=tag,
                defaults={"manifest": manifest, "updated": timezone.now()},
            )
    return manifest


def do_delete_manifest(repository: Repository, reference: str) -> None:
    """Delete a tag, or a manifest by digest together with the tags that point at it."""
    if is_digest(reference):
        get_manifest(repository.name, reference).delete()
        return
    deleted, _ = repository.tags.filter(name=check_tag(reference)).delete()
    if not deleted:
        raise RegistryError("MANIFEST_UNKNOWN", "tag unknown to registry", {"tag": reference})


def list_referrers(repository: Repository, digest: str, artifact_type: str = "") -> list[dict]:
    """Descriptors of the manifests in `repository` whose subject is `digest`."""
    found = repository.manifests.filter(subject_digest=check_digest(digest))
    if artifact_type:
        found = found.filter(artifact_type=artifact_type)
    descriptors = []
    for m in found.order_by("pushed_at", "digest"):
        descriptor = {"mediaType": m.media_type, "digest": m.digest, "size": m.size}
        if m.artifact_type:
            descriptor["artifactType"] = m.artifact_type
        if m.annotations:
            descriptor["annotations"] = m.annotations
        descriptors.append(descriptor)
    return descriptors
