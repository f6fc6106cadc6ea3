"""Garbage collection: blobs no manifest references and abandoned uploads."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone

from .. import storage
from ..models import Blob, Upload
from .uploads import do_cancel_upload

UPLOAD_MAX_AGE = timedelta(hours=24)
# Blobs linked or written this recently may belong to a push whose manifest is yet to come.
PUSH_GRACE = timedelta(hours=1)


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
