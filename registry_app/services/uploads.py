"""Chunked blob uploads: start, append, finish, cancel."""

import uuid as uuidlib
from pathlib import Path

from .. import storage
from ..errors import RegistryError
from ..models import Blob, Repository, Upload
from ..names import check_digest
from .blobs import Reader, commit


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
    blob = commit(upload.repository, staged, digest)
    upload.delete()
    return blob


def do_cancel_upload(upload: Upload) -> None:
    storage.discard_staged(Path(upload.staged_file))
    upload.delete()


def range_header(size: int) -> str:
    """The `Range` of an upload holding `size` bytes, written as Docker's registry does."""
    return f"0-{max(size - 1, 0)}"
