"""Registry use cases: repositories, uploads, blobs, manifests, tags, tokens, collection.

Views translate HTTP to these calls; the engine and the dashboard call them directly.
"""

import hashlib
import uuid as uuidlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import Max, Q
from django.utils import timezone

from accounts.actors import Actor
from accounts.models import Team
from platformkit.prepared import PreparedLookup

from . import manifests as manifest_format
from . import storage, tokens
from .errors import RegistryError
from .models import Blob, Manifest, Namespace, Repository, RepositoryBlob, Tag, Upload
from .names import (
    PLATFORM_NAMESPACE,
    check_digest,
    check_name,
    check_tag,
    is_digest,
    namespace_of,
)
from .permissions import allowed_actions, scope_actions, visible_repositories

Reader = Callable[[int], bytes]
UPLOAD_MAX_AGE = timedelta(hours=24)
# Blobs linked or written this recently may belong to a push whose manifest is yet to come.
PUSH_GRACE = timedelta(hours=1)


def get_repository(name: str) -> Repository | None:
    return Repository.objects.filter(name=name).first()


def require_repository(name: str) -> Repository:
    repository = get_repository(name)
    if repository is None:
        raise RegistryError("NAME_UNKNOWN", "repository name not known to registry", {"name": name})
    return repository


def repository_for_push(name: str) -> Repository:
    """The repository, created on first push with the namespace its name implies."""
    repository = get_repository(name)
    if repository is not None:
        return repository
    ns_name = namespace_of(name)
    owner = None
    team = None
    if ns_name != PLATFORM_NAMESPACE:
        owner = get_user_model().objects.filter(username=ns_name).first()
        team = None if owner else Team.objects.filter(name=ns_name).first()
    visibility = (
        Repository.Visibility.PUBLIC
        if ns_name == PLATFORM_NAMESPACE
        else getattr(
            settings, "DOCKYARD_REGISTRY_DEFAULT_VISIBILITY", Repository.Visibility.PRIVATE
        )
    )
    try:
        with transaction.atomic():
            namespace, _ = Namespace.objects.get_or_create(
                name=ns_name, defaults={"owner": owner, "team": team}
            )
            return Repository.objects.create(namespace=namespace, name=name, visibility=visibility)
    except IntegrityError:
        return Repository.objects.get(name=name)


def do_set_visibility(repository: Repository, visibility: str) -> None:
    if visibility not in Repository.Visibility.values:
        raise ValueError(f"visibility must be public or private, got {visibility!r}")
    Repository.objects.filter(pk=repository.pk).update(visibility=visibility)
    repository.visibility = visibility


# Blobs


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


def _commit(repository: Repository, staged: Path, digest: str) -> Blob:
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
        return _commit(repository, staged, digest)
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


# Uploads


def do_start_upload(repository: Repository) -> Upload:
    upload_id = uuidlib.uuid4()
    staged = storage.new_staged_file(str(upload_id))
    return Upload.objects.create(uuid=upload_id, repository=repository, staged_file=str(staged))


def get_upload(repository: Repository, upload_id: str) -> Upload:
    try:
        parsed = uuidlib.UUID(upload_id)
    except ValueError:
        parsed = None
    upload = Upload.objects.filter(uuid=parsed, repository=repository).first() if parsed else None
    if upload is None or not Path(upload.staged_file).exists():
        raise RegistryError(
            "BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry", {"uuid": upload_id[:64]}
        )
    return upload


def upload_size(upload: Upload) -> int:
    return storage.staged_size(Path(upload.staged_file))


def do_append_upload(
    upload: Upload, read: Reader, content_range: tuple[int, int] | None = None
) -> int:
    """Append a chunk; `content_range` (first, last byte) must continue where the upload is."""
    start = length = None
    if content_range is not None:
        start, last = content_range
        length = last - start + 1
    try:
        size = storage.append(Path(upload.staged_file), read, start, length)
    except storage.RangeMismatch as e:
        raise RegistryError(
            "RANGE_INVALID",
            "chunk does not continue the upload",
            {"offset": e.size},
            headers={"Range": range_header(e.size), "Docker-Upload-UUID": str(upload.uuid)},
        ) from None
    Upload.objects.filter(pk=upload.pk).update(offset=size)
    upload.offset = size
    return size


def do_finish_upload(upload: Upload, digest: str) -> Blob:
    """Verify the staged bytes against `digest`, store them, and end the upload."""
    check_digest(digest)
    staged = Path(upload.staged_file)
    blob = _commit(upload.repository, staged, digest)
    upload.delete()
    return blob


def do_cancel_upload(upload: Upload) -> None:
    storage.discard_staged(Path(upload.staged_file))
    upload.delete()


def range_header(size: int) -> str:
    """The `Range` of an upload holding `size` bytes, written as Docker's registry does."""
    return f"0-{max(size - 1, 0)}"


# Manifests and tags


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


def _page(values, n: int | None, last: str) -> tuple[list[str], bool]:
    if last:
        values = values.filter(name__gt=last)
    values = values.order_by("name").values_list("name", flat=True)
    if n is None:
        return list(values), False
    page = list(values[: n + 1])
    return page[:n], len(page) > n


def list_tags(repository: Repository, n: int | None, last: str) -> tuple[list[str], bool]:
    """One page of tag names in lexical order, and whether more follow."""
    return _page(repository.tags.all(), n, last)


def list_catalog(actor: Actor | None, n: int | None, last: str) -> tuple[list[str], bool]:
    """One page of the repositories `actor` may pull, and whether more follow."""
    return _page(visible_repositories(actor), n, last)


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


# Tokens


def granted_actions(actor: Actor | None, name: str) -> frozenset[str]:
    """What a credential may do in repository `name`: the user's rights within its scopes."""
    actions = allowed_actions(actor, name)
    return actions & scope_actions(actor.scopes) if actor else actions


def do_issue_token(actor: Actor | None, scopes: list[str]) -> dict:
    """A bearer token granting, of the requested scopes, only what the actor may do."""
    access = []
    for raw in scopes:
        requested = tokens.parse_scope(raw)
        if requested is None:
            continue
        granted: frozenset[str] = frozenset()
        if requested.type == "repository":
            try:
                check_name(requested.name)
            except RegistryError:
                continue
            wanted = requested.actions
            if "*" in wanted:
                wanted = frozenset({"pull", "push", "delete"})
            granted = wanted & granted_actions(actor, requested.name)
        elif requested.type == "registry" and requested.name == "catalog" and actor:
            granted = requested.actions & {"*"}
        access.append(tokens.ResourceScope(requested.type, requested.name, granted))
    if actor is None:
        return tokens.issue("", None, None, access)
    token_id = actor.token.pk if actor.token else None
    return tokens.issue(actor.user.get_username(), actor.user.pk, token_id, access)


# Garbage collection


@dataclass(frozen=True)
class CollectionReport:
    blobs_removed: int
    uploads_removed: int
    bytes_freed: int


def do_collect_garbage(now: datetime | None = None) -> CollectionReport:
    """Remove blobs no manifest references, and uploads abandoned for a day.

    Never removes a blob linked or written within PUSH_GRACE: a push uploads its blobs before
    the manifest that references them.
    """
    now = now or timezone.now()
    freed = 0
    uploads = 0
    for upload in Upload.objects.filter(started__lt=now - UPLOAD_MAX_AGE):
        staged = Path(upload.staged_file)
        freed += storage.staged_size(staged)
        do_cancel_upload(upload)
        uploads += 1
    known = {Path(p).name for p in Upload.objects.values_list("staged_file", flat=True)}
    uploads_dir = storage.uploads_dir()
    for stray in uploads_dir.iterdir() if uploads_dir.is_dir() else ():
        if stray.name not in known and _older_than(stray, now - UPLOAD_MAX_AGE):
            freed += stray.stat().st_size
            storage.discard_staged(stray)
            uploads += 1

    cutoff = now - PUSH_GRACE
    with transaction.atomic():
        unreferenced = (
            Blob.objects.filter(manifests__isnull=True, created__lt=cutoff)
            .annotate(last_link=Max("links__linked_at"))
            .filter(Q(last_link__isnull=True) | Q(last_link__lt=cutoff))
        )
        Blob.objects.filter(pk__in=list(unreferenced.values_list("pk", flat=True))).delete()
    live = set(Blob.objects.values_list("digest", flat=True))
    removed = 0
    blobs_dir = storage.blobs_dir()
    for path in blobs_dir.iterdir() if blobs_dir.is_dir() else ():
        if f"sha256:{path.name}" not in live and _older_than(path, cutoff):
            freed += path.stat().st_size
            path.unlink(missing_ok=True)
            removed += 1
    return CollectionReport(blobs_removed=removed, uploads_removed=uploads, bytes_freed=freed)


def _older_than(path: Path, moment: datetime) -> bool:
    try:
        return path.stat().st_mtime < moment.timestamp()
    except FileNotFoundError:
        return False
