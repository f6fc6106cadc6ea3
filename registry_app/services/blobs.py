"""Blobs a repository holds: lookup, linking, whole-blob uploads, cross-repository mounts."""

import uuid as uuidlib
from collections.abc import Callable
from pathlib import Path

from django.db import transaction
from django.utils import timezone

from platformkit.prepared import PreparedLookup

from .. import storage
from ..errors import RegistryError
from ..models import Blob, Repository, RepositoryBlob
from ..names import check_digest
from .repositories import require_repository

Reader = Callable[[int], bytes]


_LINKED_BLOB = PreparedLookup(
    lambda name, digest: Blob.objects.filter(digest=digest, links__repository__name=name),
    name="\0name",
    digest="\0digest",
)


def blob_unknown(digest: str) -> RegistryError:
    return RegistryError("BLOB_UNKNOWN", "blob unknown to registry", {"digest": digest})


def linked_blob(name: str, digest: str) -> Blob:
    """A blob repository `name` may serve; NAME_UNKNOWN or BLOB_UNKNOWN otherwise."""
    # One query on the way that every pull takes; the repository is looked up only to tell
    # the client which of the two it does not know.
    blob = _LINKED_BLOB.first(name=name, digest=digest)
    if blob is None or not storage.blob_path(digest).exists():
        require_repository(name)
        raise blob_unknown(digest)
    return blob


def _link(repository: Repository, digest: str, size: int) -> Blob:
    with transaction.atomic():
        blob, _ = Blob.objects.get_or_create(digest=digest, defaults={"size": size})
        RepositoryBlob.objects.update_or_create(
            repository=repository, blob=blob, defaults={"linked_at": timezone.now()}
        )
    return blob


def commit(repository: Repository, staged: Path, digest: str) -> Blob:
    try:
        size = storage.commit(staged, digest)
    except storage.ContentMismatch as e:
        raise RegistryError(
            "DIGEST_INVALID",
            "provided digest did not match uploaded content",
            {"expected": digest, "actual": e.actual},
        ) from None
    return _link(repository, digest, size)


def do_upload_blob(repository: Repository, digest: str, read: Reader) -> Blob:
    """A whole blob in one request (POST ?digest=)."""
    check_digest(digest)
    staged = storage.new_staged_file(f"mono-{uuidlib.uuid4()}")
    try:
        storage.append(staged, read)
        return commit(repository, staged, digest)
    finally:
        storage.discard_staged(staged)


def do_mount_blob(repository: Repository, digest: str, source: Repository) -> Blob | None:
    """Link a blob `source` already has; None when it has not (the caller uploads instead)."""
    try:
        blob = linked_blob(source.name, check_digest(digest))
    except RegistryError:
        return None
    return _link(repository, blob.digest, blob.size)


def do_unlink_blob(repository: Repository, digest: str) -> None:
    blob = linked_blob(repository.name, check_digest(digest))
    RepositoryBlob.objects.filter(repository=repository, blob=blob).delete()
